//! attnroll-sys against include/attnroll.h:
//!
//! - every `ATTNROLL_API` function has a declaration in src/lib.rs with the
//!   same name, argument count and types (mapped C -> Rust by header.rs), and
//!   src/lib.rs declares no other function;
//! - every `#define ATTNROLL_*` constant has a `pub const` of the mapped type
//!   in src/lib.rs, and src/lib.rs defines no other constant;
//! - a C program compiled from the header prints sizeof/offsetof of
//!   attnroll_tensor and attnroll_blas_info and the value of every constant,
//!   and they equal Rust's.
//!
//! (build.rs also generates `const _: unsafe extern "C" fn(..) = NAME;` for
//! every header function into src/lib.rs's unit tests, so the types checked
//! here as text are also checked by the compiler.)

#[path = "../header.rs"]
mod header;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::mem::{align_of, size_of, MaybeUninit};
use std::path::PathBuf;
use std::process::Command;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/header_generated.rs"));
}

fn parsed_header() -> header::Header {
    assert!(
        generated::HEADER_ERROR.is_empty(),
        "attnroll-sys build.rs could not read the header: {}",
        generated::HEADER_ERROR
    );
    let text = std::fs::read_to_string(generated::HEADER_PATH)
        .unwrap_or_else(|e| panic!("cannot read {}: {}", generated::HEADER_PATH, e));
    header::parse(&text).unwrap_or_else(|e| panic!("{}: {}", generated::HEADER_PATH, e))
}

fn lib_rs() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {}", path, e))
}

/// Removes `//` comments (src/lib.rs has no block comments or `//` in strings
/// that matter here) and the `#[cfg(test)]` module at the end.
fn rust_code(src: &str) -> String {
    let src = match src.find("#[cfg(test)]") {
        Some(pos) => &src[..pos],
        None => src,
    };
    src.lines()
        .map(|l| match l.find("//") {
            Some(p) => &l[..p],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Normalises a Rust type: whitespace, and the std/core paths of c_char/c_void.
fn norm_type(t: &str) -> String {
    let mut t = squash(t);
    for prefix in ["std::os::raw::", "core::ffi::", "std::ffi::", "libc::"] {
        t = t.replace(prefix, "");
    }
    t.replace("* const", "*const").replace("* mut", "*mut")
}

#[derive(Debug)]
struct RustFn {
    name: String,
    params: Vec<String>,
    ret: String,
}

/// `pub fn NAME(a: T, b: U) -> R;` inside `extern "C" { ... }` blocks.
fn rust_functions(code: &str) -> Vec<RustFn> {
    let mut fns = Vec::new();
    let mut rest = code;
    while let Some(pos) = rest.find("extern \"C\" {") {
        let block_start = pos + "extern \"C\" {".len();
        let block_end = block_start + rest[block_start..].find('}').expect("unclosed extern block");
        let block = &rest[block_start..block_end];
        for decl in block.split(';') {
            let decl = squash(decl);
            if decl.is_empty() {
                continue;
            }
            let d = decl.strip_prefix("pub ").unwrap_or(&decl);
            let d = d
                .strip_prefix("fn ")
                .unwrap_or_else(|| panic!("src/lib.rs: unexpected item in an extern block: `{}`", decl));
            let open = d.find('(').expect("(");
            let close = d.rfind(')').expect(")");
            let name = d[..open].trim().to_string();
            let params = d[open + 1..close]
                .split(',')
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let colon = p
                        .find(':')
                        .unwrap_or_else(|| panic!("{}: parameter `{}` has no type", name, p));
                    norm_type(&p[colon + 1..])
                })
                .collect();
            let after = d[close + 1..].trim();
            let ret = match after.strip_prefix("->") {
                Some(r) => norm_type(r),
                None if after.is_empty() => "()".to_string(),
                None => panic!("{}: cannot read the return type `{}`", name, after),
            };
            fns.push(RustFn { name, params, ret });
        }
        rest = &rest[block_end..];
    }
    fns
}

/// `pub const NAME: TYPE = ...;` at the top level.
fn rust_constants(code: &str) -> BTreeMap<String, String> {
    let mut consts = BTreeMap::new();
    for stmt in code.split(';') {
        let s = squash(stmt);
        let s = match s.rfind("pub const ") {
            Some(p) => &s[p + "pub const ".len()..],
            None => continue,
        };
        let colon = s.find(':').expect("const without a type");
        let eq = s.find('=').expect("const without a value");
        consts.insert(s[..colon].trim().to_string(), norm_type(&s[colon + 1..eq]));
    }
    consts
}

#[test]
fn functions_match_the_header() {
    let h = parsed_header();
    let rust = rust_functions(&rust_code(&lib_rs()));
    let mut problems = Vec::new();
    for f in &h.functions {
        match rust.iter().find(|r| r.name == f.name) {
            None => problems.push(format!(
                "missing in src/lib.rs: pub fn {}({}){};  (C: {} {}({}))",
                f.name,
                f.params.join(", "),
                if f.ret == "()" {
                    String::new()
                } else {
                    format!(" -> {}", f.ret)
                },
                f.c_ret,
                f.name,
                f.c_params.join(", ")
            )),
            Some(r) => {
                if r.params.len() != f.params.len() {
                    problems.push(format!(
                        "{}: {} arguments in Rust, {} in the header",
                        f.name,
                        r.params.len(),
                        f.params.len()
                    ));
                } else {
                    for (i, (rp, cp)) in r.params.iter().zip(&f.params).enumerate() {
                        if rp != cp {
                            problems.push(format!(
                                "{}: argument {} is `{}` in Rust, the header's `{}` maps to `{}`",
                                f.name, i, rp, f.c_params[i], cp
                            ));
                        }
                    }
                }
                if r.ret != f.ret {
                    problems.push(format!(
                        "{}: returns `{}` in Rust, the header's `{}` maps to `{}`",
                        f.name, r.ret, f.c_ret, f.ret
                    ));
                }
            }
        }
    }
    for r in &rust {
        if !h.functions.iter().any(|f| f.name == r.name) {
            problems.push(format!("src/lib.rs declares {}, which the header does not", r.name));
        }
        if rust.iter().filter(|o| o.name == r.name).count() > 1 {
            problems.push(format!("src/lib.rs declares {} more than once", r.name));
        }
    }
    assert!(
        problems.is_empty(),
        "attnroll-sys functions vs attnroll.h:\n  {}",
        problems.join("\n  ")
    );
    assert_eq!(rust.len(), h.functions.len());
    assert!(
        h.functions.len() >= 27,
        "only {} functions parsed from the header",
        h.functions.len()
    );
}

#[test]
fn constants_match_the_header() {
    let h = parsed_header();
    let rust = rust_constants(&rust_code(&lib_rs()));
    let mut problems = Vec::new();
    for c in &h.constants {
        match rust.get(&c.name) {
            None => problems.push(format!(
                "missing in src/lib.rs: pub const {}: {} = {};",
                c.name, c.rust_type, c.value
            )),
            Some(t) if t != c.rust_type => {
                problems.push(format!("{}: type `{}` in Rust, expected `{}`", c.name, t, c.rust_type))
            }
            Some(_) => {}
        }
    }
    for name in rust.keys() {
        if !h.constants.iter().any(|c| &c.name == name) {
            problems.push(format!("src/lib.rs defines {}, which the header does not", name));
        }
    }
    assert!(
        problems.is_empty(),
        "attnroll-sys constants vs attnroll.h:\n  {}",
        problems.join("\n  ")
    );
    // The families the binding relies on are all there.
    for name in [
        "ATTNROLL_VERSION_NUMBER",
        "ATTNROLL_VERSION_STRING",
        "ATTNROLL_E_INTERNAL",
        "ATTNROLL_BF16",
        "ATTNROLL_OPT_RESIDUAL",
        "ATTNROLL_OPTION_INTS",
        "ATTNROLL_MAX_NDIM",
    ] {
        assert!(
            h.constants.iter().any(|c| c.name == name),
            "{} not parsed from the header",
            name
        );
    }
}

/// The size of what a raw pointer points to (without reading it).
fn pointee_size<T>(_: *const T) -> usize {
    size_of::<T>()
}

/// The fields of attnroll_blas_info, in the header's order.
const BLAS_INFO_FIELDS: [&str; 8] = [
    "blas",
    "kernel",
    "kernel_level",
    "cpu_level",
    "kernel_below_cpu",
    "best_kernel",
    "fix",
    "coretype_env",
];

/// Compiles a C program that prints what the C compiler sees and returns its
/// output as name -> value.
fn c_probe(h: &header::Header) -> BTreeMap<String, String> {
    let mut src = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"attnroll.h\"\n\
         struct align_probe { char c; attnroll_tensor t; };\n\
         int main(void) {\n\
         printf(\"sizeof %lu\\n\", (unsigned long)sizeof(attnroll_tensor));\n\
         printf(\"alignof %lu\\n\", (unsigned long)offsetof(struct align_probe, t));\n",
    );
    for field in ["data", "dtype", "ndim", "shape", "strides"] {
        writeln!(
            src,
            "printf(\"offsetof.{0} %lu\\n\", (unsigned long)offsetof(attnroll_tensor, {0}));",
            field
        )
        .unwrap();
        writeln!(
            src,
            "printf(\"sizeof.{0} %lu\\n\", (unsigned long)sizeof(((attnroll_tensor *)0)->{0}));",
            field
        )
        .unwrap();
    }
    src.push_str(
        "{ struct blas_probe { char c; attnroll_blas_info i; };\n\
         printf(\"blas_info.sizeof %lu\\n\", (unsigned long)sizeof(attnroll_blas_info));\n\
         printf(\"blas_info.alignof %lu\\n\", (unsigned long)offsetof(struct blas_probe, i)); }\n",
    );
    for field in BLAS_INFO_FIELDS {
        writeln!(
            src,
            "printf(\"blas_info.offsetof.{0} %lu\\n\", (unsigned long)offsetof(attnroll_blas_info, {0}));",
            field
        )
        .unwrap();
        writeln!(
            src,
            "printf(\"blas_info.sizeof.{0} %lu\\n\", (unsigned long)sizeof(((attnroll_blas_info *)0)->{0}));",
            field
        )
        .unwrap();
    }
    for c in &h.constants {
        if c.rust_type == "&str" {
            writeln!(src, "printf(\"{0} %s\\n\", {0});", c.name).unwrap();
        } else {
            writeln!(src, "printf(\"{0} %lld\\n\", (long long)({0}));", c.name).unwrap();
        }
    }
    src.push_str("return 0;\n}\n");

    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("attnroll-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c_file = dir.join("probe.c");
    let exe = dir.join("probe");
    std::fs::write(&c_file, &src).unwrap();
    let include = PathBuf::from(generated::HEADER_PATH).parent().unwrap().to_path_buf();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    // The probe only needs the header; keep a sanitizer preload (the CMake
    // sanitizer build sets one for the test binaries) away from the compiler.
    let out = Command::new(&cc)
        .env_remove("LD_PRELOAD")
        .arg("-std=c99")
        .arg("-I")
        .arg(&include)
        .arg(&c_file)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{}` (set CC): {}", cc, e));
    assert!(
        out.status.success(),
        "{} failed on the probe program:\n{}\n{}",
        cc,
        String::from_utf8_lossy(&out.stderr),
        src
    );
    let run = Command::new(&exe)
        .env_remove("LD_PRELOAD")
        .output()
        .expect("run the probe");
    assert!(run.status.success(), "the probe program failed");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').expect("probe line");
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn layout_and_values_match_the_c_compiler() {
    use attnroll_sys::attnroll_tensor;
    let h = parsed_header();
    let c = c_probe(&h);
    let t = MaybeUninit::<attnroll_tensor>::uninit();
    let base = t.as_ptr() as usize;
    // SAFETY: addr_of! takes field addresses without reading the uninitialised value.
    let offsets = unsafe {
        let p = t.as_ptr();
        [
            (
                "data",
                std::ptr::addr_of!((*p).data) as usize - base,
                size_of::<*mut std::os::raw::c_void>(),
            ),
            (
                "dtype",
                std::ptr::addr_of!((*p).dtype) as usize - base,
                size_of::<i32>(),
            ),
            ("ndim", std::ptr::addr_of!((*p).ndim) as usize - base, size_of::<i32>()),
            (
                "shape",
                std::ptr::addr_of!((*p).shape) as usize - base,
                size_of::<*const i64>(),
            ),
            (
                "strides",
                std::ptr::addr_of!((*p).strides) as usize - base,
                size_of::<*const i64>(),
            ),
        ]
    };
    let mut problems = Vec::new();
    let mut expect = |key: String, rust: String| match c.get(&key) {
        None => problems.push(format!("{}: not printed by the C probe", key)),
        Some(v) if *v != rust => problems.push(format!("{}: C says {}, Rust says {}", key, v, rust)),
        Some(_) => {}
    };
    expect("sizeof".into(), size_of::<attnroll_tensor>().to_string());
    expect("alignof".into(), align_of::<attnroll_tensor>().to_string());
    for (field, offset, size) in offsets {
        expect(format!("offsetof.{}", field), offset.to_string());
        expect(format!("sizeof.{}", field), size.to_string());
    }
    // attnroll_blas_info: the same size, alignment, and field offsets and sizes.
    {
        use attnroll_sys::attnroll_blas_info;
        let t = MaybeUninit::<attnroll_blas_info>::uninit();
        let base = t.as_ptr() as usize;
        // SAFETY: addr_of! takes field addresses without reading the uninitialised value.
        let fields: [(usize, usize); 8] = unsafe {
            let p = t.as_ptr();
            [
                (
                    std::ptr::addr_of!((*p).blas) as usize - base,
                    pointee_size(std::ptr::addr_of!((*p).blas)),
                ),
                (
                    std::ptr::addr_of!((*p).kernel) as usize - base,
                    pointee_size(std::ptr::addr_of!((*p).kernel)),
                ),
                (std::ptr::addr_of!((*p).kernel_level) as usize - base, size_of::<i32>()),
                (std::ptr::addr_of!((*p).cpu_level) as usize - base, size_of::<i32>()),
                (
                    std::ptr::addr_of!((*p).kernel_below_cpu) as usize - base,
                    size_of::<i32>(),
                ),
                (
                    std::ptr::addr_of!((*p).best_kernel) as usize - base,
                    pointee_size(std::ptr::addr_of!((*p).best_kernel)),
                ),
                (
                    std::ptr::addr_of!((*p).fix) as usize - base,
                    pointee_size(std::ptr::addr_of!((*p).fix)),
                ),
                (
                    std::ptr::addr_of!((*p).coretype_env) as usize - base,
                    pointee_size(std::ptr::addr_of!((*p).coretype_env)),
                ),
            ]
        };
        expect("blas_info.sizeof".into(), size_of::<attnroll_blas_info>().to_string());
        expect("blas_info.alignof".into(), align_of::<attnroll_blas_info>().to_string());
        for (field, (offset, size)) in BLAS_INFO_FIELDS.iter().zip(fields) {
            expect(format!("blas_info.offsetof.{}", field), offset.to_string());
            expect(format!("blas_info.sizeof.{}", field), size.to_string());
        }
    }
    let rust_values = generated::rust_constant_values();
    assert_eq!(rust_values.len(), h.constants.len());
    for (name, value) in rust_values {
        expect(name.to_string(), value);
    }
    assert!(
        problems.is_empty(),
        "attnroll-sys vs the C compiler:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_linked_library_matches_the_header() {
    // SAFETY: these take no pointers and return static data or plain values.
    unsafe {
        assert_eq!(
            attnroll_sys::attnroll_version_number(),
            attnroll_sys::ATTNROLL_VERSION_NUMBER
        );
        let v = std::ffi::CStr::from_ptr(attnroll_sys::attnroll_version_string());
        assert_eq!(v.to_str().unwrap(), attnroll_sys::ATTNROLL_VERSION_STRING);
        assert_eq!(attnroll_sys::attnroll_max_ndim(), attnroll_sys::ATTNROLL_MAX_NDIM);
        assert_eq!(attnroll_sys::attnroll_dtype_size(attnroll_sys::ATTNROLL_F32), 4);
        assert_eq!(attnroll_sys::attnroll_dtype_size(attnroll_sys::ATTNROLL_F64), 8);
        assert_eq!(attnroll_sys::attnroll_dtype_size(attnroll_sys::ATTNROLL_F16), 2);
        assert_eq!(attnroll_sys::attnroll_dtype_size(attnroll_sys::ATTNROLL_BF16), 2);
        assert_eq!(attnroll_sys::attnroll_dtype_size(99), 0);
        let name = std::ffi::CStr::from_ptr(attnroll_sys::attnroll_status_string(attnroll_sys::ATTNROLL_E_SHAPE));
        assert_eq!(name.to_str().unwrap(), "ATTNROLL_E_SHAPE");
    }
}

/// The parser itself, on declarations the real header does not (yet) have.
#[test]
fn header_parser_maps_types() {
    let h = header::parse(
        "typedef struct attnroll_x attnroll_x;\n\
         #define ATTNROLL_A 3 /* c */\n#define ATTNROLL_S \"x\"\n\
         ATTNROLL_API void attnroll_f(const char *const *names, attnroll_x **out,\n   double d, void *p);\n\
         ATTNROLL_API const int64_t *attnroll_g(void);\n",
    )
    .unwrap();
    assert_eq!(h.constants.len(), 2);
    assert_eq!(h.constants[1].rust_type, "&str");
    let f = &h.functions[0];
    assert_eq!(f.ret, "()");
    assert_eq!(
        f.params,
        ["*const *const c_char", "*mut *mut attnroll_x", "f64", "*mut c_void"]
    );
    assert_eq!(h.functions[1].ret, "*const i64");
    assert!(header::parse("ATTNROLL_API long double attnroll_h(void);").is_err());
    assert!(header::parse("#define ATTNROLL_EMPTY\nATTNROLL_API void attnroll_i(void);").is_err());
}
