# npm-install.cmake -- installs the parse check's npm packages into the build
# tree: `npm ci` from the committed package.json and package-lock.json (exact
# versions and integrity hashes, from the npm registry; no install scripts run,
# nothing is compiled: tree-sitter-julia is used through its WebAssembly build).
# Runs again only when the lockfile changes (a stamp holds its hash).
#
#   cmake -DSOURCE_DIR=<parse-check> -DBINARY_DIR=<build dir> -DNPM=<npm> -P npm-install.cmake
foreach(var SOURCE_DIR BINARY_DIR NPM)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "npm-install.cmake: -D${var}=... is required")
  endif()
endforeach()

if(NOT NPM OR NOT EXISTS "${NPM}")
  message(FATAL_ERROR "julia checks: npm is not installed (on Debian: apt-get install -y nodejs npm, "
                      "as scripts/install-deps.sh does). The Julia syntax check cannot run without it.")
endif()

file(MAKE_DIRECTORY "${BINARY_DIR}")
file(SHA256 "${SOURCE_DIR}/package-lock.json" lock_hash)
file(SHA256 "${SOURCE_DIR}/package.json" manifest_hash)
set(want "${lock_hash} ${manifest_hash}")
set(stamp "${BINARY_DIR}/npm-ci.stamp")
set(have "")
if(EXISTS "${stamp}")
  file(READ "${stamp}" have)
endif()
if(have STREQUAL want
   AND EXISTS "${BINARY_DIR}/node_modules/web-tree-sitter/package.json"
   AND EXISTS "${BINARY_DIR}/node_modules/tree-sitter-julia/tree-sitter-julia.wasm")
  message(STATUS "julia checks: node_modules in ${BINARY_DIR} match the lockfile")
  return()
endif()

file(REMOVE "${stamp}")
configure_file("${SOURCE_DIR}/package.json" "${BINARY_DIR}/package.json" COPYONLY)
configure_file("${SOURCE_DIR}/package-lock.json" "${BINARY_DIR}/package-lock.json" COPYONLY)
message(STATUS "julia checks: npm ci in ${BINARY_DIR}")
execute_process(COMMAND "${NPM}" ci --ignore-scripts --no-audit --no-fund --loglevel=warn
                WORKING_DIRECTORY "${BINARY_DIR}"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "julia checks: `npm ci` failed (${rc}) in ${BINARY_DIR}; it needs the npm registry "
                      "for tree-sitter-julia and web-tree-sitter (versions pinned in ${SOURCE_DIR}/package-lock.json)")
endif()
if(NOT EXISTS "${BINARY_DIR}/node_modules/tree-sitter-julia/tree-sitter-julia.wasm")
  message(FATAL_ERROR "julia checks: npm ci succeeded but tree-sitter-julia.wasm is missing")
endif()
file(WRITE "${stamp}" "${want}")
