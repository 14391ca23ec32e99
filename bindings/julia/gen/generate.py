#!/usr/bin/python3
"""Generate bindings/julia/AttnRoll/src/LibAttnRoll.jl from include/attnroll.h.

The header is the single source of the raw Julia layer: every ATTNROLL_API
function becomes a Julia function of the same name that @ccall's the symbol
with the same argument count and the C types mapped one to one, every
`#define ATTNROLL_*` constant becomes a `const`, `attnroll_tensor` an immutable
struct with the C layout, and each opaque type with a `<type>_destroy` function
an owning handle whose finalizer may run after an explicit destroy!.

    /usr/bin/python3 bindings/julia/gen/generate.py            # rewrite the committed file
    /usr/bin/python3 bindings/julia/gen/generate.py -o OUT     # write elsewhere
    /usr/bin/python3 bindings/julia/gen/generate.py -o OUT --expect FILE
        # write OUT, then fail (exit 1, with a diff) unless FILE is identical:
        # the julia_generated_up_to_date test

Only the Python standard library is used.  Anything in the header that the
generator does not understand is an error, never silently skipped.
"""

import argparse
import difflib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_HEADER = os.path.join(ROOT, "include", "attnroll.h")
DEFAULT_OUTPUT = os.path.join(ROOT, "bindings", "julia", "AttnRoll", "src", "LibAttnRoll.jl")

# C scalar types -> Julia.  Pointers become Ptr{...} of these; a `const char *`
# return value becomes Cstring.
SCALARS = {"int32_t": "Int32", "int64_t": "Int64", "double": "Cdouble", "void": "Cvoid",
           "char": "Cchar"}

# Julia words that cannot name an argument.
JULIA_RESERVED = {
    "abstract", "baremodule", "begin", "break", "catch", "const", "continue", "do", "else",
    "elseif", "end", "export", "false", "finally", "for", "function", "global", "if", "import",
    "in", "isa", "let", "local", "macro", "module", "mutable", "outer", "primitive", "quote",
    "return", "struct", "true", "try", "type", "using", "where", "while",
}


class HeaderError(Exception):
    pass


# --------------------------------------------------------------------- lexing


def join_continuations(text):
    return re.sub(r"\\\n", " ", text)


def split_comments(text):
    """(code with every comment replaced by spaces of the same length,
    [(start, end, comment_text)]).  String and character literals are kept."""
    out, comments, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise HeaderError("unterminated /* comment")
            comments.append((i, j + 2, text[i + 2:j]))
            out.append(re.sub(r"[^\n]", " ", text[i:j + 2]))
            i = j + 2
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            comments.append((i, j, text[i + 2:j]))
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out), comments


# -------------------------------------------------------------------- parsing


class Type:
    """A C type: base name, pointer depth, const-ness of the pointee, and the
    length of a fixed array (struct fields only; None otherwise)."""

    def __init__(self, base, depth, const, length=None):
        self.base, self.depth, self.const, self.length = base, depth, const, length

    def c(self):
        return ("const " if self.const else "") + self.base + (" " if self.depth else "") + "*" * self.depth


def parse_type(tokens, where, structs):
    const = "const" in tokens
    rest = [t for t in tokens if t != "const"]
    depth = sum(t.count("*") for t in rest)
    names = [t for t in rest if t.strip("*")]
    if len(names) != 1:
        raise HeaderError(f"{where}: cannot read the type {' '.join(tokens)!r}")
    base = names[0].strip("*")
    if base not in SCALARS and base not in structs:
        raise HeaderError(f"{where}: unknown type {base!r}")
    return Type(base, depth, const)


def tokens_of(decl):
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*|\*+|[0-9]+|\S", decl)


def parse_declarator(decl, where, structs, arrays=False):
    """'const int64_t *shape' -> (name, Type); with arrays, also a fixed array
    'char kernel[32]' (a struct field)."""
    toks = tokens_of(decl)
    length = None
    if arrays and len(toks) >= 4 and toks[-3] == "[" and toks[-1] == "]":
        if not re.fullmatch(r"[1-9][0-9]*", toks[-2]):
            raise HeaderError(f"{where}: the array length in {decl.strip()!r} is not a number")
        length = int(toks[-2])
        toks = toks[:-3]
    if len(toks) < 2 or not re.match(r"[A-Za-z_]\w*$", toks[-1]):
        raise HeaderError(f"{where}: cannot read {decl.strip()!r}")
    t = parse_type(toks[:-1], where, structs)
    if length is not None:
        if t.depth or t.const:
            raise HeaderError(f"{where}: {decl.strip()!r}: only arrays of plain scalars are mapped")
        t.length = length
    return toks[-1], t


class Header:
    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            raw = join_continuations(f.read())
        code, self.comments = split_comments(raw)
        self.code = code
        self.defines = []     # (name, value text), in order
        self.structs = {}     # name -> [(field, Type)] or None when opaque
        self.struct_order = []
        self.functions = []   # (name, Type return, [(arg, Type)], doc)
        self.export_macro = None
        self._parse()

    # -- preprocessor
    def _preprocess(self):
        """Returns the code lines that C sees at the top level of the include
        guard; records #defines.  Text inside any other #if block (the export
        macro's branches, the C++ extern "C" braces) is not declarations."""
        lines = self.code.split("\n")
        depth, guard, kept, conditional = 0, None, [], []
        offsets, pos = [], 0
        for line in lines:
            offsets.append(pos)
            pos += len(line) + 1
        for lineno, line in enumerate(lines):
            s = line.strip()
            m = re.match(r"#\s*(\w+)\s*(.*)$", s)
            if m:
                directive, rest = m.group(1), m.group(2).strip()
                if directive in ("if", "ifdef", "ifndef"):
                    depth += 1
                    if depth == 1 and directive == "ifndef":
                        guard = rest
                elif directive == "endif":
                    depth -= 1
                elif directive in ("else", "elif"):
                    pass
                elif directive == "define":
                    d = re.match(r"([A-Za-z_]\w*)(\s+(.*))?$", rest)
                    if not d:
                        raise HeaderError(f"line {lineno + 1}: cannot read #define {rest!r}")
                    name, value = d.group(1), (d.group(3) or "").strip()
                    if depth == 1 and name == guard:
                        continue
                    if depth > 1:
                        conditional.append(name)
                        continue
                    if name.startswith("ATTNROLL_"):
                        self.defines.append((name, value))
                elif directive == "include":
                    pass
                else:
                    raise HeaderError(f"line {lineno + 1}: unexpected #{directive}")
                kept.append(("", offsets[lineno]))
                continue
            kept.append((line if depth == 1 else "", offsets[lineno]))
        if len(set(conditional)) != 1:
            raise HeaderError(f"expected one conditionally defined export macro, got {sorted(set(conditional))}")
        self.export_macro = conditional[0]
        return kept

    def _doc_before(self, offset):
        """The comment that ends right before offset (only blanks between)."""
        best = None
        for start, end, text in self.comments:
            if end <= offset and self.code[end:offset].strip() == "":
                best = text
        return best

    def _parse(self):
        kept = self._preprocess()
        text = "\n".join(line for line, _ in kept)
        # map offsets in `text` back to offsets in self.code for the docs
        starts = []
        pos = 0
        for line, orig in kept:
            starts.append((pos, orig))
            pos += len(line) + 1

        def original_offset(i):
            lo = 0
            for k, (p, orig) in enumerate(starts):
                if p <= i:
                    lo = k
                else:
                    break
            p, orig = starts[lo]
            return orig + (i - p)

        pos = 0
        for m in re.finditer(r"[^;]*;", text, re.S):
            stmt = m.group(0)
            body = stmt[:-1].strip()
            if not body:
                continue
            first = m.start() + (len(stmt) - len(stmt.lstrip()))
            where = f"declaration {' '.join(body.split())[:60]!r}"
            self._statement(" ".join(body.split()), where, original_offset(first))
            pos = m.end()
        tail = text[pos:].strip()
        if tail:
            raise HeaderError(f"trailing text after the last declaration: {tail[:60]!r}")

    def _statement(self, body, where, offset):
        m = re.match(r"typedef struct (\w+) (\w+)$", body)
        if m:
            tag, name = m.groups()
            if tag != name:
                raise HeaderError(f"{where}: typedef name {name} differs from the tag {tag}")
            self.structs[name] = None
            self.struct_order.append(name)
            return
        m = re.match(r"typedef struct (\w+) \{(.*)$", body)
        if m:
            self._open_struct = (m.group(1), [m.group(2)], offset)
            return
        if getattr(self, "_open_struct", None):
            tag, parts, _ = self._open_struct
            end = re.match(r"\} (\w+)$", body)
            if end:
                name = end.group(1)
                if name != tag:
                    raise HeaderError(f"{where}: typedef name {name} differs from the tag {tag}")
                fields = []
                for decl in parts:
                    if decl.strip():
                        fields.append(parse_declarator(decl, f"struct {tag}", self.structs.keys() | {tag}, arrays=True))
                self.structs[name] = fields
                self.struct_order.append(name)
                self._open_struct = None
            else:
                parts.append(body)
            return
        m = re.match(re.escape(self.export_macro) + r" (.+?)\b(attnroll_\w+) ?\((.*)\)$", body)
        if m:
            ret_text, name, params = m.groups()
            ret = parse_type(tokens_of(ret_text), f"{name} return type", self.structs)
            args = []
            if params.strip() != "void":
                for k, p in enumerate(params.split(",")):
                    args.append(parse_declarator(p, f"{name} argument {k + 1}", self.structs))
            self.functions.append((name, ret, args, self._doc_before(offset)))
            return
        raise HeaderError(f"{where}: not a typedef or an {self.export_macro} function")


# --------------------------------------------------------------- evaluation


def evaluate_defines(defines):
    """{name: int or str}; every value must be an integer expression over
    earlier constants, or a string literal."""
    import ast
    values = {}
    for name, text in defines:
        if re.fullmatch(r'"[^"\\]*"', text):
            values[name] = text[1:-1]
            continue
        expr = re.sub(r"\b(\d+)[uUlL]*\b", r"\1", text)
        try:
            tree = ast.parse(expr, mode="eval")
        except SyntaxError:
            raise HeaderError(f"#define {name}: cannot evaluate {text!r}") from None

        def ev(node):
            if isinstance(node, ast.Expression):
                return ev(node.body)
            if isinstance(node, ast.Constant) and type(node.value) is int:
                return node.value
            if isinstance(node, ast.Name):
                if not isinstance(values.get(node.id), int):
                    raise HeaderError(f"#define {name}: {node.id} is not an earlier integer constant")
                return values[node.id]
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
                v = ev(node.operand)
                return -v if isinstance(node.op, ast.USub) else v
            if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
                a, b = ev(node.left), ev(node.right)
                return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b}[type(node.op)]
            raise HeaderError(f"#define {name}: cannot evaluate {text!r}")

        values[name] = ev(tree)
    return values


# ------------------------------------------------------------------- output


def julia_type(t, is_return=False):
    if t.length is not None:  # a fixed array in a struct: stored inline
        return f"NTuple{{{t.length}, {SCALARS[t.base]}}}"
    if t.base == "char":
        if is_return and t.depth == 1:
            return "Cstring"
        if t.depth == 1 and t.const:
            return "Cstring"
        raise HeaderError(f"char type {t.c()!r} has no mapping")
    inner = SCALARS.get(t.base, t.base)
    for _ in range(t.depth):
        inner = f"Ptr{{{inner}}}"
    return inner


def julia_arg(name):
    return name + "_" if name in JULIA_RESERVED else name


def c_prototype(name, ret, args):
    params = ", ".join(f"{t.c()}{'' if t.c().endswith('*') else ' '}{n}" for n, t in args) or "void"
    r = ret.c()
    return f"{r}{'' if r.endswith('*') else ' '}{name}({params})"


def doc_text(comment):
    """The lines of a header comment without the comment markers, the leading
    ' * ' of each line and the common indentation."""
    if not comment:
        return []
    raw = comment.split("\n")
    first = raw[0].strip()
    rest = [re.sub(r"^\s*\*( |$)", "", line.rstrip()) for line in raw[1:]]
    indent = min((len(l) - len(l.lstrip()) for l in rest if l.strip()), default=0)
    lines = ([first] if first else []) + [l[indent:] for l in rest]
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def jl_doc_escape(line):
    return line.replace("\\", "\\\\").replace("$", "\\$").replace('"""', '\\"\\"\\"')


def handle_name(struct):
    stem = struct[len("attnroll_"):] if struct.startswith("attnroll_") else struct
    return "".join(part.capitalize() for part in stem.split("_")) + "Handle"


def generate(header_path):
    h = Header(header_path)
    values = evaluate_defines(h.defines)
    rel = os.path.relpath(header_path, ROOT).replace(os.sep, "/")
    if rel.startswith(".."):
        rel = os.path.basename(header_path)
    major = values.get("ATTNROLL_VERSION_MAJOR")
    if not isinstance(major, int) or not isinstance(values.get("ATTNROLL_VERSION_NUMBER"), int):
        raise HeaderError("the header must define ATTNROLL_VERSION_MAJOR and ATTNROLL_VERSION_NUMBER")
    fnames = [f[0] for f in h.functions]
    handles = []
    for s in h.struct_order:
        if h.structs[s] is None and f"{s}_destroy" in fnames:
            fn = next(f for f in h.functions if f[0] == f"{s}_destroy")
            if len(fn[2]) != 1 or fn[2][0][1].base != s or fn[2][0][1].depth != 1:
                raise HeaderError(f"{s}_destroy must take one {s} *")
            handles.append(s)

    o = []
    w = o.append
    w(f"# LibAttnRoll.jl -- GENERATED from {rel} by bindings/julia/gen/generate.py.")
    w("# Do not edit: change the header and run")
    w("#     /usr/bin/python3 bindings/julia/gen/generate.py")
    w("# (ctest's julia_generated_up_to_date fails while this file is stale, and")
    w("# julia_header_consistency checks it against the header independently).")
    w("")
    w('"""')
    w("    AttnRoll.LibAttnRoll")
    w("")
    w(f"The raw C interface of attnroll, generated from `{rel}`: one function per")
    w("`ATTNROLL_API` function (same name, same arguments in the same order, C types")
    w("mapped one to one: `int32_t` -> `Int32`, `int64_t` -> `Int64`, `double` ->")
    w("`Cdouble`, `T *` -> `Ptr{T}`, `const char *` -> `Cstring`), a constant per")
    w("`#define ATTNROLL_*`, the structs with the C layout (a `char x[N]` field is an")
    w("`NTuple{N, Cchar}`), and owning handles for the opaque types.  Every function")
    w("returns what the C function returns (a status is an `Int32`; nothing is checked")
    w("here).  The library is opened when the module is loaded (`__init__`), from")
    w("`ENV[\"ATTNROLL_LIBRARY\"]` if set, else through the system loader;")
    w("`library_path()` tells which file.")
    w('"""')
    w("module LibAttnRoll")
    w("")
    w("using Libdl")
    w("")
    exports = ([n for n, _ in h.defines] + h.struct_order + [handle_name(s) for s in handles]
               + (["destroy!"] if handles else []) + fnames + ["library_path"])
    w("export " + ",\n       ".join(", ".join(exports[i:i + 4]) for i in range(0, len(exports), 4)))
    w("")
    w("# " + "-" * 72)
    w("# Constants (#define ATTNROLL_*)")
    w("")
    for name, _ in h.defines:
        v = values[name]
        if isinstance(v, str):
            w(f'const {name} = "{v}"')
        else:
            jt = "Int32" if -2**31 <= v < 2**31 else "Int64"
            w(f"const {name} = {jt}({v})")
    w("")
    w("# " + "-" * 72)
    w("# Types")
    for s in h.struct_order:
        fields = h.structs[s]
        w("")
        if fields is None:
            w(f'"""Opaque C type `{s}`; only ever used as `Ptr{{{s}}}`."""')
            w(f"mutable struct {s} end")
        else:
            w(f'"""C struct `{s}` (immutable, same layout as the C struct)."""')
            w(f"struct {s}")
            for fname, ftype in fields:
                w(f"    {fname}::{julia_type(ftype)}")
            w("end")
    for s in handles:
        hn = handle_name(s)
        w("")
        w('"""')
        w(f"    {hn}(ptr::Ptr{{{s}}} = C_NULL)")
        w("")
        w(f"Owns an `{s} *`: `destroy!(handle)` calls `{s}_destroy` and sets the")
        w("pointer to `C_NULL`, so the finalizer (which does the same) and any further")
        w("`destroy!` are no-ops.  Passes as the pointer to any `Ptr{" + s + "}` argument;")
        w("ccall keeps the handle alive during the call.")
        w('"""')
        w(f"mutable struct {hn}")
        w(f"    ptr::Ptr{{{s}}}")
        w(f"    function {hn}(ptr::Ptr{{{s}}} = Ptr{{{s}}}(C_NULL))")
        w("        handle = new(ptr)")
        w("        finalizer(destroy!, handle)")
        w("        return handle")
        w("    end")
        w("end")
        w("")
        w(f"Base.unsafe_convert(::Type{{Ptr{{{s}}}}}, handle::{hn}) = handle.ptr")
        w("")
        w(f"function destroy!(handle::{hn})")
        w("    ptr = handle.ptr")
        w(f"    handle.ptr = Ptr{{{s}}}(C_NULL)")
        w(f"    ptr == C_NULL || {s}_destroy(ptr)")
        w("    return nothing")
        w("end")
    w("")
    w("# " + "-" * 72)
    w("# Functions: each calls through a pointer looked up when the library is loaded")
    w("")
    for name, ret, args, doc in h.functions:
        w(f"const _fp_{name} = Ref{{Ptr{{Cvoid}}}}(C_NULL)")
    for name, ret, args, doc in h.functions:
        params = ", ".join(julia_arg(n) for n, _ in args)
        cargs = ", ".join(f"{julia_arg(n)}::{julia_type(t)}" for n, t in args)
        w("")
        jret = julia_type(ret, True)
        w('"""')
        w(f"    {name}({params}) -> {'Nothing' if jret == 'Cvoid' else jret}")
        w("")
        w("```c")
        w(jl_doc_escape(c_prototype(name, ret, args) + ";"))
        for line in doc_text(doc):
            w(jl_doc_escape(line).rstrip())
        w("```")
        w('"""')
        w(f"function {name}({params})")
        w(f"    @ccall $(_pointer(_fp_{name}, :{name}))({cargs})::{julia_type(ret, True)}")
        w("end")
    w("")
    w("# " + "-" * 72)
    w("# Loading")
    w("")
    w("const _SYMBOLS = (")
    for name in fnames:
        w(f"    (_fp_{name}, :{name}),")
    w(")")
    w("")
    w("const _library_handle = Ref{Ptr{Cvoid}}(C_NULL)")
    w('const _library_path = Ref{String}("")')
    w("")
    w('"""')
    w("    library_path() -> String")
    w("")
    w('The file the library was loaded from ("" before it is loaded).')
    w('"""')
    w("library_path() = _library_path[]")
    w("")
    w("@noinline function _not_loaded(name::Symbol)")
    w('    error("AttnRoll: $name: libattnroll is not loaded (set ENV[\\"ATTNROLL_LIBRARY\\"] to its path, or install it, then reload AttnRoll)")')
    w("end")
    w("")
    w("@inline function _pointer(ref::Base.RefValue{Ptr{Cvoid}}, name::Symbol)")
    w("    ptr = ref[]")
    w("    ptr == C_NULL && _not_loaded(name)")
    w("    return ptr")
    w("end")
    w("")
    w('"""')
    w("    library_candidates() -> Vector{String}")
    w("")
    w('Where `load_library()` looks: `ENV["ATTNROLL_LIBRARY"]` alone when it is set and')
    w("not empty, else the names the system loader resolves (the same search as")
    w("`dlopen(3)`: `LD_LIBRARY_PATH`, the ld.so cache, ...).")
    w('"""')
    w("function library_candidates()")
    w('    override = get(ENV, "ATTNROLL_LIBRARY", "")')
    w("    isempty(override) || return [override]")
    w('    names = ["libattnroll"]')
    w("    if Sys.isapple()")
    w(f'        push!(names, "libattnroll.{major}.dylib")')
    w("    elseif Sys.iswindows()")
    w('        push!(names, "attnroll")')
    w("    else")
    w(f'        push!(names, "libattnroll.so.{major}")')
    w("    end")
    w("    return names")
    w("end")
    w("")
    w('"""')
    w("    load_library(candidates = library_candidates()) -> String")
    w("")
    w("Opens the first candidate that loads, looks up every function, checks the")
    w("library's version against the header this file was generated from, and")
    w("returns the library's path.  Throws an error naming every candidate tried.")
    w('"""')
    w("function load_library(candidates::AbstractVector{<:AbstractString} = library_candidates())")
    w("    tried = String[]")
    w("    handle = C_NULL")
    w("    for name in candidates")
    w("        try")
    w("            handle = Libdl.dlopen(name)")
    w("            break")
    w("        catch err")
    w('            push!(tried, "  $name: " * sprint(showerror, err))')
    w("        end")
    w("    end")
    w("    if handle == C_NULL")
    w('        how = haskey(ENV, "ATTNROLL_LIBRARY") && !isempty(ENV["ATTNROLL_LIBRARY"]) ?')
    w('            "the library named by ATTNROLL_LIBRARY" : "libattnroll through the system loader"')
    w('        error("AttnRoll: cannot load $how. Build it (cmake --build build) and set " *')
    w('              "ENV[\\"ATTNROLL_LIBRARY\\"] to build/src/libattnroll.so.1, or install it " *')
    w('              "(cmake --install build). Tried:\\n" * join(tried, "\\n"))')
    w("    end")
    w("    path = Libdl.dlpath(handle)")
    w("    absent = [String(name) for (_, name) in _SYMBOLS")
    w("              if something(Libdl.dlsym(handle, name; throw_error = false), C_NULL) == C_NULL]")
    w('    isempty(absent) || error("AttnRoll: $path lacks " * join(absent, ", ") *')
    w('                              "; it is older than the header this binding was generated from")')
    w("    for (ref, name) in _SYMBOLS")
    w("        ref[] = Libdl.dlsym(handle, name)")
    w("    end")
    w("    _library_handle[] = handle")
    w("    _library_path[] = path")
    w("    version = attnroll_version_number()")
    w("    if div(version, 10000) != ATTNROLL_VERSION_MAJOR || version < ATTNROLL_VERSION_NUMBER")
    w("        found = unsafe_string(attnroll_version_string())")
    w("        for (ref, _) in _SYMBOLS")
    w("            ref[] = C_NULL")
    w("        end")
    w('        error("AttnRoll: $path is version $found; this binding needs " *')
    w('              "$(ATTNROLL_VERSION_MAJOR).x >= $(ATTNROLL_VERSION_STRING)")')
    w("    end")
    w("    return path")
    w("end")
    w("")
    w("function __init__()")
    w("    # While a package image is being written nothing is called, so nothing is")
    w("    # loaded: no path or pointer is baked into the precompiled file.")
    w("    ccall(:jl_generating_output, Cint, ()) == 1 && return")
    w("    load_library()")
    w("    return")
    w("end")
    w("")
    w("end # module LibAttnRoll")
    return "\n".join(o) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header", default=DEFAULT_HEADER)
    ap.add_argument("-o", "--output", default=DEFAULT_OUTPUT)
    ap.add_argument("--expect", help="after writing, fail unless this file is identical to the output")
    args = ap.parse_args(argv)
    try:
        text = generate(args.header)
    except HeaderError as err:
        print(f"generate.py: {args.header}: {err}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    print(f"generate.py: wrote {args.output}")
    if args.expect:
        try:
            with open(args.expect, encoding="utf-8") as f:
                committed = f.read()
        except OSError as err:
            print(f"generate.py: cannot read {args.expect}: {err}", file=sys.stderr)
            return 1
        if committed != text:
            diff = difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                        fromfile=args.expect + " (committed)",
                                        tofile=args.output + " (generated from the header)")
            sys.stdout.writelines(diff)
            print(f"\ngenerate.py: {args.expect} is stale: regenerate it with\n"
                  f"    /usr/bin/python3 bindings/julia/gen/generate.py", file=sys.stderr)
            return 1
        print(f"generate.py: {args.expect} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
