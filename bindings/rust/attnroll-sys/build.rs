// Build script of attnroll-sys.  No dependencies: pkg-config runs as a process.
//
// 1. Links libattnroll: from ATTNROLL_LIB_DIR when that is set, else from what
//    `pkg-config --libs attnroll` reports.  Neither -> a build error naming both.
// 2. Finds attnroll.h (ATTNROLL_INCLUDE_DIR, the source tree this crate sits in,
//    pkg-config's includedir) and generates from it, into OUT_DIR, the typed
//    checks used by this crate's tests (see src/lib.rs and tests/header.rs).
//    Not finding the header is not a build error: only those tests need it.

mod header;

use std::env;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    for var in [
        "ATTNROLL_LIB_DIR",
        "ATTNROLL_INCLUDE_DIR",
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=header.rs");

    let lib_dir = link_library();
    let header = find_header(lib_dir.as_deref());
    if let Some(h) = &header {
        println!("cargo:rerun-if-changed={}", h.display());
        if let Some(dir) = h.parent() {
            println!("cargo:include={}", dir.display());
        }
    }
    generate_checks(header.as_deref());
}

fn pkg_config_program() -> OsString {
    env::var_os("PKG_CONFIG").unwrap_or_else(|| OsString::from("pkg-config"))
}

/// Runs pkg-config with args; Ok(stdout) or Err(what went wrong).
fn pkg_config(args: &[&str]) -> Result<String, String> {
    let program = pkg_config_program();
    match Command::new(&program).args(args).output() {
        Err(e) => Err(format!("could not run `{}`: {}", program.to_string_lossy(), e)),
        Ok(out) if !out.status.success() => Err(format!(
            "`{} {}` failed ({}): {}",
            program.to_string_lossy(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()),
    }
}

/// Emits the link directives; returns the directory the library is in, when known.
fn link_library() -> Option<PathBuf> {
    if let Some(dir) = env::var_os("ATTNROLL_LIB_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let names = [
            "libattnroll.so",
            "libattnroll.dylib",
            "libattnroll.a",
            "attnroll.lib",
            "attnroll.dll",
        ];
        if !names.iter().any(|n| dir.join(n).exists()) {
            fail(&format!(
                "ATTNROLL_LIB_DIR={} does not hold libattnroll (looked for {}).\n\
                 Point it at the directory with libattnroll.so, e.g. the CMake build's src/ \
                 (`cmake -S . -B build && cmake --build build`, then ATTNROLL_LIB_DIR=$PWD/build/src), \
                 or unset it to use `pkg-config --libs attnroll`.",
                dir.display(),
                names.join(", ")
            ));
        }
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=attnroll");
        println!("cargo:lib_dir={}", dir.display());
        return Some(dir);
    }
    match pkg_config(&["--libs", "attnroll"]) {
        Ok(flags) => {
            let mut found_lib = false;
            let mut dir = None;
            for flag in flags.split_whitespace() {
                if let Some(d) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={}", d);
                    if dir.is_none() {
                        dir = Some(PathBuf::from(d));
                    }
                } else if let Some(l) = flag.strip_prefix("-l") {
                    println!("cargo:rustc-link-lib={}", l);
                    found_lib |= l == "attnroll";
                } else {
                    println!("cargo:warning=attnroll-sys: ignoring the pkg-config flag {}", flag);
                }
            }
            if !found_lib {
                println!("cargo:rustc-link-lib=attnroll");
            }
            if dir.is_none() {
                if let Ok(d) = pkg_config(&["--variable=libdir", "attnroll"]) {
                    if !d.is_empty() {
                        dir = Some(PathBuf::from(d));
                    }
                }
            }
            if let Some(d) = &dir {
                println!("cargo:lib_dir={}", d.display());
            }
            dir
        }
        Err(why) => fail(&format!(
            "cannot find the attnroll C library.\n\
             Either\n  \
               - set ATTNROLL_LIB_DIR to the directory holding libattnroll.so (for a CMake build \
             tree: ATTNROLL_LIB_DIR=<build>/src, and LD_LIBRARY_PATH to the same when running), or\n  \
               - install attnroll (`cmake --install build`, add --prefix DIR for a private prefix) \
             so that `pkg-config --libs attnroll` finds it (for a private prefix: \
             PKG_CONFIG_PATH=DIR/lib/pkgconfig or DIR/lib/<arch>/pkgconfig).\n\
             pkg-config said: {}",
            why
        )),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("\nerror: attnroll-sys: {}\n", message);
    std::process::exit(1);
}

fn find_header(lib_dir: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = env::var_os("ATTNROLL_INCLUDE_DIR").filter(|d| !d.is_empty()) {
        candidates.push(PathBuf::from(dir).join("attnroll.h"));
    }
    // bindings/rust/attnroll-sys -> the repository's include/
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    candidates.push(manifest.join("../../../include/attnroll.h"));
    if let Ok(dir) = pkg_config(&["--variable=includedir", "attnroll"]) {
        if !dir.is_empty() {
            candidates.push(PathBuf::from(dir).join("attnroll.h"));
        }
    }
    if let Some(dir) = lib_dir {
        candidates.push(dir.join("../include/attnroll.h"));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .map(|p| fs::canonicalize(&p).unwrap_or(p))
}

fn rust_str(s: &str) -> String {
    format!("{:?}", s)
}

/// Writes OUT_DIR/header_signatures.rs (included by src/lib.rs's tests) and
/// OUT_DIR/header_generated.rs (included by tests/header.rs).
fn generate_checks(header_path: Option<&Path>) {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));
    let parsed = match header_path {
        None => Err(
            "attnroll.h not found: set ATTNROLL_INCLUDE_DIR to the directory holding it \
                     (the repository's include/)"
                .to_string(),
        ),
        Some(path) => fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {}", path.display(), e))
            .and_then(|text| header::parse(&text).map_err(|e| format!("{}: {}", path.display(), e))),
    };
    if let (Some(_), Err(e)) = (header_path, &parsed) {
        println!(
            "cargo:warning=attnroll-sys: the header checks cannot be generated: {}",
            e
        );
    }

    let mut sigs = String::from("// Generated by build.rs from attnroll.h.\n");
    let mut gen = String::from("// Generated by build.rs from attnroll.h.\n");
    let path_text = header_path.map(|p| p.display().to_string()).unwrap_or_default();
    writeln!(gen, "pub const HEADER_PATH: &str = {};", rust_str(&path_text)).unwrap();
    writeln!(
        gen,
        "pub const HEADER_ERROR: &str = {};",
        rust_str(parsed.as_ref().err().map(|s| s.as_str()).unwrap_or(""))
    )
    .unwrap();
    writeln!(gen, "#[allow(unused_mut, clippy::vec_init_then_push)]").unwrap();
    writeln!(gen, "pub fn rust_constant_values() -> Vec<(&'static str, String)> {{").unwrap();
    writeln!(gen, "    let mut v: Vec<(&'static str, String)> = Vec::new();").unwrap();
    if let Ok(h) = &parsed {
        for f in &h.functions {
            let ret = if f.ret == "()" {
                String::new()
            } else {
                format!(" -> {}", f.ret)
            };
            writeln!(
                sigs,
                "const _: unsafe extern \"C\" fn({}){} = {};",
                f.params.join(", "),
                ret,
                f.name
            )
            .unwrap();
        }
        for c in &h.constants {
            writeln!(
                gen,
                "    {{ let value: {} = attnroll_sys::{}; v.push(({}, value.to_string())); }}",
                c.rust_type,
                c.name,
                rust_str(&c.name)
            )
            .unwrap();
        }
    }
    writeln!(gen, "    v\n}}").unwrap();
    let count = parsed.as_ref().map(|h| h.functions.len()).unwrap_or(0);
    writeln!(sigs, "pub const FUNCTIONS_CHECKED: usize = {};", count).unwrap();
    writeln!(
        sigs,
        "pub const HEADER_ERROR: &str = {};",
        rust_str(parsed.as_ref().err().map(|s| s.as_str()).unwrap_or(""))
    )
    .unwrap();
    write_if_changed(&out_dir.join("header_signatures.rs"), &sigs);
    write_if_changed(&out_dir.join("header_generated.rs"), &gen);
}

fn write_if_changed(path: &Path, text: &str) {
    if fs::read_to_string(path).ok().as_deref() != Some(text) {
        fs::write(path, text).unwrap_or_else(|e| fail(&format!("cannot write {}: {}", path.display(), e)));
    }
}
