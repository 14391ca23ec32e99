# run-julia-tests.cmake -- the package's own test suite (test/runtests.jl) with
# a real Julia, for the julia_binding test, which CMake registers only when a
# `julia` executable is found (Debian 12 has none).  The package is copied into
# the build tree first so that Pkg's Manifest.toml never lands in the sources.
# ATTNROLL_LIBRARY (set by the test) names the library this build made.
#
#   cmake -DJULIA=<julia> -DPACKAGE=<bindings/julia/AttnRoll> -DWORK=<dir> -P run-julia-tests.cmake
foreach(var JULIA PACKAGE WORK)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run-julia-tests.cmake: -D${var}=... is required")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(COPY "${PACKAGE}" DESTINATION "${WORK}" PATTERN "Manifest.toml" EXCLUDE)
get_filename_component(name "${PACKAGE}" NAME)
# The package's dependencies are standard libraries only: resolving them needs
# no registry, so Pkg runs offline.
set(ENV{JULIA_PKG_OFFLINE} "true")
execute_process(COMMAND "${JULIA}" --startup-file=no --project=${WORK}/${name}
                        -e "using Pkg; Pkg.test()"
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "julia_binding: Pkg.test() failed (${rc})")
endif()
