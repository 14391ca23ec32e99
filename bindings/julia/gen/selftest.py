#!/usr/bin/python3
"""Proves that the two header checks can fail.

Runs check_header.py on deliberately altered copies of the committed
LibAttnRoll.jl (and of the header) and requires each to be reported, with a
message naming the altered item; runs generate.py --expect on an altered copy
and requires it to report the file stale; runs check_project.py on altered
copies of Project.toml.  The unaltered files must pass.

    /usr/bin/python3 selftest.py WORKDIR
"""

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
HEADER = os.path.join(ROOT, "include", "attnroll.h")
JULIA = os.path.join(ROOT, "bindings", "julia", "AttnRoll", "src", "LibAttnRoll.jl")
IDIOMATIC = os.path.join(ROOT, "bindings", "julia", "AttnRoll", "src", "AttnRoll.jl")
PY = sys.executable


def sub1(pattern, repl, text, flags=0):
    """re.sub that must change exactly one place (so a test never goes stale
    silently when the file it alters changes)."""
    new, n = re.subn(pattern, repl, text, count=0, flags=flags)
    if n != 1:
        raise SystemExit(f"selftest.py: pattern {pattern!r} matched {n} times, expected 1")
    return new


# (name, what to alter: "julia" or "header", alteration, text the report must contain)
JULIA_CASES = [
    ("argument type int64_t -> Int32",
     lambda s: sub1(r"instance::Int64, config::Ptr\{attnroll_config\}", "instance::Int32, config::Ptr{attnroll_config}", s),
     "attnroll_temporal argument 3 (instance) is Int32"),
    ("argument dropped from the @ccall",
     lambda s: sub1(r"rows::Ptr\{Int64\}, cols::Ptr\{Int64\}\)", "rows::Ptr{Int64})", s),
     "attnroll_select_shape passes 3 arguments to C, the header has 4"),
    ("argument dropped from the wrapper and the @ccall",
     lambda s: sub1(r"function attnroll_stream_info\(stream, layers_pushed, bytes_held\)\n(.*?)stream::Ptr\{attnroll_stream\}, layers_pushed::Ptr\{Int64\}, bytes_held::Ptr\{Int64\}\)",
                    r"function attnroll_stream_info(stream, layers_pushed)\n\1stream::Ptr{attnroll_stream}, layers_pushed::Ptr{Int64})", s, re.S),
     "attnroll_stream_info takes 2 arguments, the header 3"),
    ("arguments passed in the wrong order",
     lambda s: sub1(r"\(attn::Ptr\{attnroll_tensor\}, instance::Int64, rows::Ptr\{Int64\}, cols::Ptr\{Int64\}\)",
                    "(attn::Ptr{attnroll_tensor}, instance::Int64, cols::Ptr{Int64}, rows::Ptr{Int64})", s),
     "attnroll_select_shape does not pass its parameters"),
    ("return type int32_t -> Int64",
     lambda s: sub1(r"\(dtype::Int32\)::Int32", "(dtype::Int32)::Int64", s),
     "attnroll_dtype_size returns Int64"),
    ("const char * return -> Ptr{Cvoid}",
     lambda s: sub1(r"\(_fp_attnroll_last_error, :attnroll_last_error\)\)\(\)::Cstring", "(_fp_attnroll_last_error, :attnroll_last_error))()::Ptr{Cvoid}", s),
     "attnroll_last_error returns Ptr{Cvoid}"),
    ("double -> Float32",
     lambda s: sub1(r"value::Cdouble\)::Int32", "value::Float32)::Int32", s),
     "attnroll_config_set_float argument 3 (value) is Float32"),
    ("pointer depth ** -> *",
     lambda s: sub1(r"config::Ptr\{Ptr\{attnroll_config\}\}", "config::Ptr{attnroll_config}", s),
     "attnroll_config_create argument 1 (config) is Ptr{attnroll_config}"),
    ("pointee type changed",
     lambda s: sub1(r"kind::Ptr\{Int32\}", "kind::Ptr{Int64}", s),
     "attnroll_option_info argument 2 (kind) is Ptr{Int64}"),
    ("wrapper calls another symbol",
     lambda s: sub1(r"\$\(_pointer\(_fp_attnroll_minmax, :attnroll_minmax\)\)", "$(_pointer(_fp_attnroll_minmax_rows, :attnroll_minmax_rows))", s),
     "attnroll_minmax calls the symbol attnroll_minmax_rows"),
    ("function missing",
     lambda s: sub1(r'"""\n    attnroll_stream_info\(.*?\nend\n', "", s, re.S),
     "missing function attnroll_stream_info"),
    ("extra function",
     lambda s: s.replace("# Loading\n", "# Loading\n\nfunction attnroll_bogus(x)\n    @ccall $(_pointer(_fp_attnroll_minmax, :attnroll_bogus))(x::Int32)::Int32\nend\n", 1),
     "extra function attnroll_bogus"),
    ("loader does not look a function up",
     lambda s: sub1(r"    \(_fp_attnroll_stream_push, :attnroll_stream_push\),\n", "", s),
     "_SYMBOLS lists :attnroll_stream_push 0 times"),
    ("constant value changed",
     lambda s: sub1(r"const ATTNROLL_E_STATE = Int32\(6\)", "const ATTNROLL_E_STATE = Int32(9)", s),
     "constant ATTNROLL_E_STATE is 9, the header says 6"),
    ("string constant changed",
     lambda s: sub1(r'const ATTNROLL_VERSION_STRING = "1\.0\.0"', 'const ATTNROLL_VERSION_STRING = "1.0.1"', s),
     "constant ATTNROLL_VERSION_STRING is '1.0.1'"),
    ("constant missing",
     lambda s: sub1(r"const ATTNROLL_F16 = Int32\(3\)\n", "", s),
     "missing constant ATTNROLL_F16"),
    ("extra constant",
     lambda s: s.replace("const ATTNROLL_OK = Int32(0)\n", "const ATTNROLL_OK = Int32(0)\nconst ATTNROLL_E_BOGUS = Int32(99)\n", 1),
     "extra constant ATTNROLL_E_BOGUS"),
    ("struct field type changed",
     lambda s: sub1(r"    ndim::Int32\n", "    ndim::Int64\n", s),
     "attnroll_tensor.ndim is Int64"),
    ("struct field missing",
     lambda s: sub1(r"    strides::Ptr\{Int64\}\n", "", s),
     "struct attnroll_tensor fields"),
    ("fixed array field length changed",
     lambda s: sub1(r"    fix::NTuple\{64, Cchar\}\n", "    fix::NTuple{63, Cchar}\n", s),
     "attnroll_blas_info.fix is NTuple{63,Cchar}"),
    ("fixed array field made a pointer",
     lambda s: sub1(r"    kernel::NTuple\{32, Cchar\}\n", "    kernel::Ptr{Cchar}\n", s),
     "attnroll_blas_info.kernel is Ptr{Cchar}"),
    ("struct made mutable",
     lambda s: sub1(r"^struct attnroll_tensor$", "mutable struct attnroll_tensor", s, re.M),
     "struct attnroll_tensor must be immutable"),
    ("a stray C call",
     lambda s: s.replace("# Loading\n", "# Loading\n\n_sneaky() = ccall(:attnroll_max_ndim, Int32, ())\n", 1),
     "a C call outside an attnroll_* wrapper"),
]

HEADER_CASES = [
    ("function added to the header",
     lambda s: s.replace("#ifdef __cplusplus\n} /* extern \"C\" */",
                         "ATTNROLL_API int32_t attnroll_new_thing(int64_t x);\n\n#ifdef __cplusplus\n} /* extern \"C\" */", 1),
     "missing function attnroll_new_thing (1 arguments)"),
    ("argument added in the header",
     lambda s: sub1(r"ATTNROLL_API int32_t attnroll_minmax\(const attnroll_tensor \*in, const attnroll_tensor \*out\);",
                    "ATTNROLL_API int32_t attnroll_minmax(const attnroll_tensor *in, const attnroll_tensor *out, int32_t flags);", s),
     "attnroll_minmax takes 2 arguments, the header 3"),
    ("constant added to the header",
     lambda s: s.replace("#define ATTNROLL_E_INTERNAL  7", "#define ATTNROLL_E_INTERNAL  7\n#define ATTNROLL_E_TIMEOUT 8", 1),
     "missing constant ATTNROLL_E_TIMEOUT"),
    ("fixed array length changed in the header",
     lambda s: sub1(r"char    fix\[64\];", "char    fix[48];", s),
     "attnroll_blas_info.fix is NTuple{64,Cchar}; C char[48] maps to"),
    ("version bumped in the header",
     lambda s: sub1(r"#define ATTNROLL_VERSION_MINOR 0", "#define ATTNROLL_VERSION_MINOR 1", s),
     "constant ATTNROLL_VERSION_NUMBER is 10000, the header says 10100"),
]


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    work = os.path.abspath(sys.argv[1])
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    with open(JULIA, encoding="utf-8") as f:
        julia = f.read()
    with open(HEADER, encoding="utf-8") as f:
        header = f.read()
    checker = [PY, os.path.join(HERE, "check_header.py")]
    failures = []
    passed = 0

    def expect(name, cmd, want_rc, needle):
        nonlocal passed
        rc, out = run(cmd)
        ok = (rc == want_rc) if want_rc == 0 else (rc != 0)
        if ok and needle and needle not in out:
            ok = False
        status = "ok" if ok else "FAILED"
        print(f"[{status}] {name}: exit {rc}" + (f", reports {needle!r}" if needle and ok else ""))
        if not ok:
            failures.append(name)
            print("    output was:\n" + "\n".join("    | " + l for l in out.splitlines()))
        else:
            passed += 1

    expect("unaltered files pass", checker + ["--header", HEADER, "--julia", JULIA, "--no-ccall", IDIOMATIC], 0, "matches")

    for k, (name, alter, needle) in enumerate(JULIA_CASES):
        path = os.path.join(work, f"julia{k:02d}", "LibAttnRoll.jl")
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as f:
            f.write(alter(julia))
        expect(f"checker catches: {name}", checker + ["--header", HEADER, "--julia", path], 1, needle)

    for k, (name, alter, needle) in enumerate(HEADER_CASES):
        path = os.path.join(work, f"header{k:02d}", "attnroll.h")
        os.makedirs(os.path.dirname(path))
        with open(path, "w", encoding="utf-8") as f:
            f.write(alter(header))
        expect(f"checker catches: {name}", checker + ["--header", path, "--julia", JULIA], 1, needle)

    bad = os.path.join(work, "idiomatic", "AttnRoll.jl")
    os.makedirs(os.path.dirname(bad))
    with open(IDIOMATIC, encoding="utf-8") as f:
        idiomatic = f.read()
    with open(bad, "w", encoding="utf-8") as f:
        f.write(idiomatic.replace("\nend # module AttnRoll", "\n_direct() = @ccall attnroll_max_ndim()::Int32\nend # module AttnRoll", 1))
    expect("checker catches: the idiomatic layer calling C directly",
           checker + ["--header", HEADER, "--julia", JULIA, "--no-ccall", bad], 1, "calls C directly")

    # julia_generated_up_to_date: an edited copy of the generated file is stale.
    generator = [PY, os.path.join(HERE, "generate.py")]
    fresh = os.path.join(work, "generated", "LibAttnRoll.jl")
    expect("generator: committed file is up to date", generator + ["-o", fresh, "--expect", JULIA], 0, "up to date")
    stale = os.path.join(work, "stale", "LibAttnRoll.jl")
    os.makedirs(os.path.dirname(stale))
    with open(stale, "w", encoding="utf-8") as f:
        f.write(julia.replace("const ATTNROLL_MAX_NDIM = Int32(16)", "const ATTNROLL_MAX_NDIM = Int32(16)  # hand edit", 1))
    expect("generator: a hand-edited file is reported stale", generator + ["-o", fresh, "--expect", stale], 1, "is stale")
    altered_header = os.path.join(work, "header-new", "attnroll.h")
    os.makedirs(os.path.dirname(altered_header))
    with open(altered_header, "w", encoding="utf-8") as f:
        f.write(HEADER_CASES[0][1](header))
    expect("generator: a header change makes the committed file stale",
           generator + ["--header", altered_header, "-o", fresh, "--expect", JULIA], 1, "+function attnroll_new_thing(x)")

    # julia_project: the project-file check fails on a wrong stdlib UUID, a
    # version that differs from the header's, and a dependency src/ never loads.
    project_checker = [PY, os.path.join(HERE, "check_project.py")]
    package = os.path.join(ROOT, "bindings", "julia", "AttnRoll")
    expect("project: the package's Project.toml passes", project_checker + [package, HEADER], 0, "is consistent")
    with open(os.path.join(package, "Project.toml"), encoding="utf-8") as f:
        project = f.read()
    project_cases = [
        ("a wrong standard-library UUID",
         lambda t: sub1(r'Libdl = "8f399da3-3557-5675-b5ff-fb832c97cbdb"', 'Libdl = "8f399da3-3557-5675-b5ff-fb832c97cbdc"', t),
         "[deps] Libdl has UUID"),
        ("a version that is not the header's",
         lambda t: sub1(r'version = "1\.0\.0"', 'version = "1.1.0"', t),
         "differs from the header's ATTNROLL_VERSION_STRING"),
        ("an unused dependency",
         lambda t: sub1(r"\[deps\]\n", '[deps]\nPrintf = "de0858da-6303-5e67-8744-51eddeeeb8d7"\n', t),
         "[deps] lists Printf, which src/ never loads"),
    ]
    for k, (name, alter, needle) in enumerate(project_cases):
        copy = os.path.join(work, f"project{k:02d}")
        shutil.copytree(package, copy)
        with open(os.path.join(copy, "Project.toml"), "w", encoding="utf-8") as f:
            f.write(alter(project))
        expect(f"project: catches {name}", project_checker + [copy, HEADER], 1, needle)

    print(f"{passed} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
