#!/usr/bin/python3
"""Check that the Julia raw layer matches include/attnroll.h exactly.

Independent of generate.py (it shares no code with it): it reads the header
with its own parser and the Julia file as text, and fails on any difference:

  * every ATTNROLL_API function has exactly one Julia function of the same
    name whose @ccall names the same symbol, passes the Julia function's
    parameters in order, has the same argument count, and maps each C type
    exactly (int32_t -> Int32/Cint, int64_t -> Int64, double -> Cdouble/Float64,
    void -> Cvoid, const char * return -> Cstring/Ptr{UInt8}/Ptr{Cchar},
    T * -> Ptr{T}, struct types by their own name); and the loader looks the
    symbol up (the `_SYMBOLS` table, when the file calls through pointers);
  * every `#define ATTNROLL_*` constant (other than the export macro and the
    include guard) has a `const` of the same name and value;
  * every struct typedef has a Julia struct with the same fields and mapped
    types (immutable; a `char x[N]` field is an `NTuple{N,Cchar}`), every
    opaque typedef a `mutable struct T end`;
  * nothing extra: no Julia function, constant or struct of those prefixes
    that the header does not have, and no @ccall outside a wrapper;
  * the other files given with --no-ccall (the idiomatic layer) call C only
    through the raw layer: they contain no ccall / @ccall.

    /usr/bin/python3 check_header.py --header include/attnroll.h \\
        --julia bindings/julia/AttnRoll/src/LibAttnRoll.jl \\
        --no-ccall bindings/julia/AttnRoll/src/AttnRoll.jl

Exit status 0 when everything matches, 1 with one line per problem otherwise.
"""

import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

JULIA_SPELLINGS = {
    "int32_t": {"Int32", "Cint"},
    "int64_t": {"Int64"},
    "double": {"Cdouble", "Float64"},
    "void": {"Cvoid"},
}


# ----------------------------------------------------------------- the header


class CType:
    def __init__(self, base, depth, const, length=None):
        self.base, self.depth, self.const, self.length = base, depth, const, length

    def __str__(self):
        return (("const " if self.const else "") + self.base + (" " + "*" * self.depth if self.depth else "")
                + (f"[{self.length}]" if self.length is not None else ""))


def read_header(path, problems):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = text.replace("\\\n", " ")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)

    guard = re.search(r"^\s*#\s*ifndef\s+(\w+)\s*\n\s*#\s*define\s+\1\s*$", text, re.M)
    guard = guard.group(1) if guard else None

    # functions: <export macro> <return type> <name>(<params>);
    functions = {}
    macros = set()
    for m in re.finditer(r"\b(\w+)\s+((?:const\s+)?\w+[\s*]+?)\s*\b(attnroll_\w+)\s*\(([^()]*)\)\s*;",
                         text):
        macro, ret, name, params = m.groups()
        if macro == "typedef":
            continue
        macros.add(macro)
        ret_type = parse_c_type(ret, f"{name}: return type", problems)
        args = []
        if params.strip() != "void":
            for k, p in enumerate(params.split(",")):
                pm = re.fullmatch(r"\s*(const\s+)?(\w+)\s*(\**)\s*(\w+)\s*", p)
                if not pm:
                    problems.append(f"header: {name}: cannot read argument {k + 1} {p.strip()!r}")
                    continue
                args.append((pm.group(4), CType(pm.group(2), len(pm.group(3)), bool(pm.group(1)))))
        if name in functions:
            problems.append(f"header: {name} is declared twice")
        functions[name] = (ret_type, args)
    if len(macros) > 1:
        problems.append(f"header: functions are declared with different prefixes {sorted(macros)}")
    export_macro = next(iter(macros), None)

    structs = {}
    for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{([^}]*)\}\s*(\w+)\s*;", text):
        tag, body, name = m.groups()
        fields = []
        for decl in body.split(";"):
            if not decl.strip():
                continue
            fm = re.fullmatch(r"\s*(const\s+)?(\w+)\s*(\**)\s*(\w+)\s*(?:\[\s*(\d+)\s*\]\s*)?", decl)
            if not fm:
                problems.append(f"header: struct {name}: cannot read field {decl.strip()!r}")
                continue
            length = int(fm.group(5)) if fm.group(5) is not None else None
            if length is not None and (fm.group(1) or fm.group(3) or length == 0):
                problems.append(f"header: struct {name}: field {decl.strip()!r}: only arrays of plain "
                                "scalars have a mapping")
                continue
            fields.append((fm.group(4), CType(fm.group(2), len(fm.group(3)), bool(fm.group(1)), length)))
        structs[name] = fields
    for m in re.finditer(r"typedef\s+struct\s+(\w+)\s+(\w+)\s*;", text):
        structs[m.group(2)] = None

    defines = {}
    for m in re.finditer(r"^\s*#\s*define\s+(ATTNROLL_\w+)[ \t]*(.*?)\s*$", text, re.M):
        name, value = m.groups()
        if name in (guard, export_macro):
            continue
        if name in defines:
            problems.append(f"header: #define {name} appears twice")
        defines[name] = value
    values = {}
    for name, value in defines.items():
        values[name] = c_value(name, value, values, problems)
    return functions, structs, values


def parse_c_type(text, where, problems):
    m = re.fullmatch(r"\s*(const\s+)?(\w+)\s*(\**)\s*", text)
    if not m:
        problems.append(f"header: {where}: cannot read {text!r}")
        return CType("?", 0, False)
    return CType(m.group(2), len(m.group(3)), bool(m.group(1)))


def c_value(name, value, known, problems):
    if re.fullmatch(r'"[^"\\]*"', value):
        return value[1:-1]
    expr = re.sub(r"\b(ATTNROLL_\w+)\b", lambda m: str(known.get(m.group(1), "?")), value)
    expr = re.sub(r"\b(\d+)[uUlL]*\b", r"\1", expr)
    if not re.fullmatch(r"[\d\s()+\-*]+", expr):
        problems.append(f"header: #define {name} {value}: not an integer expression or a string")
        return None
    return eval(expr, {"__builtins__": {}})  # digits, + - * and parentheses only


# ----------------------------------------------------------- the Julia file


def strip_julia(text):
    """Julia source without comments and without the text of string literals
    (each string is replaced by an empty one, except that single-line "..."
    strings are kept as they are: constants need their values)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith('"""', i):
            j = i + 3
            while j < n and not text.startswith('"""', j):
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 3
        elif text.startswith("#=", i):
            j = text.find("=#", i + 2)
            i = n if j < 0 else j + 2
        elif text[i] == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text[i] == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:i + 4])
            out.append("'x'")
            i += len(m.group(0))
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def split_top(text, sep=","):
    parts, depth, cur = [], 0, []
    for c in text:
        if c in "({[":
            depth += 1
        elif c in ")}]":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def balanced(text, start):
    """Index just past the bracket group opening at text[start]."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    stack = []
    for i in range(start, len(text)):
        c = text[i]
        if c in pairs:
            stack.append(pairs[c])
        elif stack and c == stack[-1]:
            stack.pop()
            if not stack:
                return i + 1
    return -1


def read_julia(path, problems):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    code = strip_julia(raw)

    def line_of(pos):
        return code.count("\n", 0, pos) + 1

    wrappers = {}
    # long form: function name(params) ... end ; short form: name(params) = ...
    defs = []
    for m in re.finditer(r"^[ \t]*function\s+(attnroll_\w+)\s*\(([^()]*)\)(.*?)^[ \t]*end\b", code,
                         re.M | re.S):
        defs.append((m.group(1), m.group(2), m.group(3), m.start(), m.end()))
    for m in re.finditer(r"^[ \t]*(attnroll_\w+)\s*\(([^()]*)\)\s*=(?!=)(.*)$", code, re.M):
        defs.append((m.group(1), m.group(2), m.group(3), m.start(), m.end()))
    covered = []
    for name, params, body, start, end in defs:
        where = f"{os.path.basename(path)}:{line_of(start)}: {name}"
        covered.append((start, end))
        if name in wrappers:
            problems.append(f"{where}: defined twice")
            continue
        calls = list(re.finditer(r"@ccall\b", body))
        if len(calls) != 1:
            problems.append(f"{where}: expected exactly one @ccall in the wrapper, found {len(calls)}")
            continue
        wrappers[name] = parse_ccall(body, calls[0].end(), split_top(params), where, problems)

    for m in re.finditer(r"@ccall\b|\bccall\s*\(", code):
        if not any(s <= m.start() < e for s, e in covered):
            if "jl_generating_output" in code[m.start():m.start() + 80]:
                continue  # the runtime's own query in __init__, not a libattnroll call
            problems.append(f"{os.path.basename(path)}:{line_of(m.start())}: a C call outside an "
                            "attnroll_* wrapper")

    consts = {}
    for m in re.finditer(r"^[ \t]*const\s+(ATTNROLL_\w+)\s*=\s*(.+?)\s*$", code, re.M):
        name, value = m.groups()
        where = f"{os.path.basename(path)}:{line_of(m.start())}: {name}"
        if name in consts:
            problems.append(f"{where}: defined twice")
        consts[name] = julia_value(value, where, problems)

    structs = {}
    for m in re.finditer(r"^[ \t]*(mutable\s+)?struct\s+(attnroll_\w+)\b(.*?)\bend\b", code, re.M | re.S):
        mutable, name, body = m.groups()
        fields = []
        for line in body.split("\n"):
            line = line.strip()
            if not line:
                continue
            fm = re.fullmatch(r"(\w+)::(.+)", line)
            if not fm:
                fields.append(("?", line))
            else:
                fields.append((fm.group(1), fm.group(2).replace(" ", "")))
        structs[name] = (bool(mutable), fields, f"{os.path.basename(path)}:{line_of(m.start())}")

    symbols = None
    table = re.search(r"const\s+_SYMBOLS\s*=\s*\(", code)
    if table:
        end = balanced(code, table.end() - 1)
        symbols = re.findall(r"\(\s*(_fp_\w+)\s*,\s*:(\w+)\s*\)", code[table.end():end])
    return wrappers, consts, structs, symbols, code


def parse_ccall(body, pos, params, where, problems):
    """The @ccall at body[pos:]: (symbol, [(value, type)], return type)."""
    rest = body[pos:].lstrip()
    offset = len(body[pos:]) - len(rest)
    if rest.startswith("$("):
        end = balanced(rest, 1)
        callee = rest[2:end - 1]
        names = re.findall(r":(attnroll_\w+)\b", callee)
        refs = re.findall(r"\b_fp_(\w+)\b", callee)
        if len(names) != 1:
            problems.append(f"{where}: the interpolated function pointer names no single :attnroll_* symbol")
            return None
        symbol = names[0]
        if refs and refs != [symbol]:
            problems.append(f"{where}: calls through _fp_{refs[0]} but names the symbol :{symbol}")
    else:
        cm = re.match(r"(?:[\w\"]+\.)?(attnroll_\w+)", rest)
        if not cm:
            problems.append(f"{where}: cannot read the @ccall callee")
            return None
        symbol = cm.group(1)
        end = cm.end()
    if end < 0 or end >= len(rest) or rest[end] != "(":
        problems.append(f"{where}: cannot read the @ccall argument list")
        return None
    close = balanced(rest, end)
    args = split_top(rest[end + 1:close - 1])
    rm = re.match(r"\s*::\s*([\w{}]+)", rest[close:])
    if not rm:
        problems.append(f"{where}: the @ccall has no return type")
        return None
    typed = []
    for a in args:
        am = re.fullmatch(r"(.+?)::([\w{}\s]+)", a, re.S)
        if not am:
            problems.append(f"{where}: @ccall argument {a!r} has no type")
            return None
        typed.append((am.group(1).strip(), am.group(2).replace(" ", "")))
    return symbol, typed, rm.group(1), params


def julia_value(text, where, problems):
    m = re.fullmatch(r'"([^"\\$]*)"', text)
    if m:
        return m.group(1)
    m = re.fullmatch(r"(?:(?:Int32|Int64|Cint)\()?\s*(-?\d+)\s*\)?", text)
    if m and text.count("(") == text.count(")"):
        return int(m.group(1))
    problems.append(f"{where}: cannot read the value {text!r}")
    return None


# ----------------------------------------------------------------- matching


ARRAY_ELEMENTS = {"char": {"Cchar", "UInt8", "Int8"}, "int32_t": {"Int32", "Cint"},
                  "int64_t": {"Int64"}, "double": {"Cdouble", "Float64"}}


def allowed_types(t, is_return=False):
    """Every Julia spelling that maps C type t exactly (a fixed array
    `T x[N]` in a struct is an inline `NTuple{N,T}`)."""
    if t.length is not None:
        return {f"NTuple{{{t.length},{e}}}" for e in ARRAY_ELEMENTS.get(t.base, {t.base})}
    if t.base == "char" and t.depth == 1 and (is_return or t.const):
        return {"Cstring", "Ptr{UInt8}", "Ptr{Cchar}"} if is_return else {"Cstring"}
    bases = JULIA_SPELLINGS.get(t.base, {t.base})
    out = set(bases)
    for _ in range(t.depth):
        out = {f"Ptr{{{b}}}" for b in out}
    return out


def check(header, julia, no_ccall):
    problems = []
    functions, cstructs, cvalues = read_header(header, problems)
    wrappers, consts, jstructs, symbols, _ = read_julia(julia, problems)
    jl = os.path.basename(julia)

    if not functions:
        problems.append("header: no ATTNROLL_API function found")
    for name, (ret, args) in functions.items():
        w = wrappers.get(name)
        if name not in wrappers:
            problems.append(f"{jl}: missing function {name} ({len(args)} arguments)")
            continue
        if w is None:
            continue  # reported while reading
        symbol, typed, jret, params = w
        if symbol != name:
            problems.append(f"{jl}: {name} calls the symbol {symbol}")
        if len(params) != len(args):
            problems.append(f"{jl}: {name} takes {len(params)} arguments, the header {len(args)}")
        if len(typed) != len(args):
            problems.append(f"{jl}: {name} passes {len(typed)} arguments to C, the header has {len(args)}")
        if [v for v, _ in typed] != [p.split("::")[0].split("=")[0].strip() for p in params]:
            problems.append(f"{jl}: {name} does not pass its parameters ({', '.join(params)}) in "
                            f"order to C ({', '.join(v for v, _ in typed)})")
        for k, ((_, ctype), (value, jtype)) in enumerate(zip(args, typed)):
            ok = allowed_types(ctype)
            if jtype not in ok:
                problems.append(f"{jl}: {name} argument {k + 1} ({value}) is {jtype}; C {ctype} "
                                f"maps to {' or '.join(sorted(ok))}")
        ok = allowed_types(ret, is_return=True)
        if jret not in ok:
            problems.append(f"{jl}: {name} returns {jret}; C {ret} maps to {' or '.join(sorted(ok))}")
    for name in wrappers:
        if name not in functions:
            problems.append(f"{jl}: extra function {name}: not in the header")

    if symbols is not None:
        listed = [s for _, s in symbols]
        for ref, s in symbols:
            if ref != f"_fp_{s}":
                problems.append(f"{jl}: _SYMBOLS pairs {ref} with :{s}")
        for name in functions:
            if listed.count(name) != 1:
                problems.append(f"{jl}: _SYMBOLS lists :{name} {listed.count(name)} times (the "
                                "loader must look every function up once)")
        for s in listed:
            if s not in functions:
                problems.append(f"{jl}: _SYMBOLS lists :{s}, which the header does not declare")

    for name, value in cvalues.items():
        if name not in consts:
            problems.append(f"{jl}: missing constant {name} = {value!r}")
        elif consts[name] is not None and (consts[name] != value or type(consts[name]) is not type(value)):
            problems.append(f"{jl}: constant {name} is {consts[name]!r}, the header says {value!r}")
    for name in consts:
        if name not in cvalues:
            problems.append(f"{jl}: extra constant {name}: not a #define in the header")

    for name, fields in cstructs.items():
        if name not in jstructs:
            problems.append(f"{jl}: missing struct {name}")
            continue
        mutable, jfields, where = jstructs[name]
        if fields is None:
            if not mutable or jfields:
                problems.append(f"{where}: opaque {name} must be `mutable struct {name} end`")
            continue
        if mutable:
            problems.append(f"{where}: struct {name} must be immutable (`struct`), as a C value type")
        if [f for f, _ in jfields] != [f for f, _ in fields]:
            problems.append(f"{where}: struct {name} fields {[f for f, _ in jfields]} differ from the "
                            f"header's {[f for f, _ in fields]}")
            continue
        for (fname, ctype), (_, jtype) in zip(fields, jfields):
            ok = allowed_types(ctype)
            if jtype not in ok:
                problems.append(f"{where}: {name}.{fname} is {jtype}; C {ctype} maps to "
                                f"{' or '.join(sorted(ok))}")
    for name in jstructs:
        if name not in cstructs:
            problems.append(f"{jl}: extra struct {name}: not in the header")

    for path in no_ccall:
        with open(path, encoding="utf-8") as f:
            code = strip_julia(f.read())
        for m in re.finditer(r"@ccall\b|\bccall\s*\(", code):
            problems.append(f"{os.path.basename(path)}:{code.count(chr(10), 0, m.start()) + 1}: calls C "
                            "directly; go through LibAttnRoll")
    return problems, len(functions), len(cvalues), len(cstructs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--header", default=os.path.join(ROOT, "include", "attnroll.h"))
    ap.add_argument("--julia", default=os.path.join(ROOT, "bindings", "julia", "AttnRoll", "src",
                                                    "LibAttnRoll.jl"))
    ap.add_argument("--no-ccall", nargs="*", default=[])
    args = ap.parse_args(argv)
    problems, nf, nc, ns = check(args.header, args.julia, args.no_ccall)
    if problems:
        for p in problems:
            print(f"MISMATCH {p}")
        print(f"check_header.py: {len(problems)} mismatch(es) between {args.header} and {args.julia}")
        return 1
    print(f"check_header.py: {args.julia} matches {args.header}: {nf} functions, {nc} constants, "
          f"{ns} types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
