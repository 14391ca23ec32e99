#!/usr/bin/python3
"""Check bindings/julia/AttnRoll/Project.toml against the package and the header.

  * the file is valid TOML with name "AttnRoll", a UUID, a version equal to
    the header's ATTNROLL_VERSION_STRING and compat julia = "1.6";
  * every [deps] / [extras] entry that is a standard library has that
    library's UUID (a wrong one makes Pkg fail to resolve);
  * every module the package's src/*.jl loads with `using` / `import` is a
    [deps] entry (or Base, Core or a submodule of the package), every module
    test/runtests.jl loads is the package itself, one of its [deps], or an
    [extras] entry in the test target, and nothing in [deps] is unused.

    /usr/bin/python3 check_project.py [PACKAGE_DIR] [HEADER]
"""

import os
import re
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", "..", ".."))

# The standard libraries' UUIDs (fixed; the same in every Julia version).
STDLIB_UUIDS = {
    "Libdl": "8f399da3-3557-5675-b5ff-fb832c97cbdb",
    "LinearAlgebra": "37e2e46d-f89d-539d-b4ee-838fcccc9c8e",
    "Random": "9a3f8284-a2c9-5f02-9a11-845980a1fd5c",
    "Test": "8dfed614-e22c-5e08-85e1-65c5234f0b40",
    "Printf": "de0858da-6303-5e67-8744-51eddeeeb8d7",
    "Statistics": "10745b16-79ce-11e8-11f9-7d13ad32a3b2",
}


def load_toml(path):
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = None
    with open(path, "rb") as f:
        data = f.read()
    if tomllib is not None:
        return tomllib.loads(data.decode("utf-8"))
    # The small subset Project.toml uses: key = "string" / [string, ...], [tables].
    out = {}
    out_table = out
    for line in data.decode("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            out_table = out.setdefault(m.group(1), {})
            continue
        m = re.fullmatch(r'([\w-]+)\s*=\s*(.+)', line)
        if not m:
            raise ValueError(f"cannot read {line!r}")
        key, value = m.groups()
        if value.startswith("["):
            out_table[key] = re.findall(r'"([^"]*)"', value)
        else:
            out_table[key] = value.strip('"')
    return out


def modules_loaded(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r'"""(.|\n)*?"""', '""', text)
    text = re.sub(r"#[^\n]*", "", text)
    found = set()
    for m in re.finditer(r"^\s*(?:using|import)\s+([^\n]+)", text, re.M):
        clause = m.group(1)
        if ":" in clause:
            clause = clause.split(":", 1)[0]
        for item in clause.split(","):
            item = item.strip().split()[0] if item.strip() else ""
            if item:
                found.add(item)
    return found


def main(argv):
    pkg = argv[1] if len(argv) > 1 else os.path.join(ROOT, "bindings", "julia", "AttnRoll")
    header = argv[2] if len(argv) > 2 else os.path.join(ROOT, "include", "attnroll.h")
    problems = []
    project_path = os.path.join(pkg, "Project.toml")
    try:
        project = load_toml(project_path)
    except Exception as err:  # noqa: BLE001 - any parse failure is the finding
        print(f"MISMATCH {project_path}: not valid TOML: {err}")
        return 1

    if project.get("name") != "AttnRoll":
        problems.append(f"name is {project.get('name')!r}, expected 'AttnRoll'")
    try:
        uuid.UUID(project.get("uuid", ""))
    except ValueError:
        problems.append(f"uuid {project.get('uuid')!r} is not a UUID")
    with open(header, encoding="utf-8") as f:
        m = re.search(r'#define\s+ATTNROLL_VERSION_STRING\s+"([^"]+)"', f.read())
    if not m or project.get("version") != m.group(1):
        problems.append(f"version {project.get('version')!r} differs from the header's "
                        f"ATTNROLL_VERSION_STRING {m.group(1) if m else None!r}")
    if project.get("compat", {}).get("julia") != "1.6":
        problems.append(f"[compat] julia is {project.get('compat', {}).get('julia')!r}, expected '1.6'")

    deps = project.get("deps", {})
    extras = project.get("extras", {})
    for section, table in (("deps", deps), ("extras", extras)):
        for name, value in table.items():
            if name in STDLIB_UUIDS and value != STDLIB_UUIDS[name]:
                problems.append(f"[{section}] {name} has UUID {value}, the standard library's is "
                                f"{STDLIB_UUIDS[name]}")
    test_target = project.get("targets", {}).get("test", [])
    for name in test_target:
        if name not in extras and name not in deps:
            problems.append(f"[targets] test lists {name}, which is in neither [extras] nor [deps]")

    src_dir = os.path.join(pkg, "src")
    used = set()
    for fname in sorted(os.listdir(src_dir)):
        if fname.endswith(".jl"):
            used |= modules_loaded(os.path.join(src_dir, fname))
    for mod in sorted(used):
        if mod.startswith(".") or mod in ("Base", "Core"):
            continue
        if mod not in deps:
            problems.append(f"src loads {mod}, which is not in [deps]")
    for name in deps:
        if name not in used:
            problems.append(f"[deps] lists {name}, which src/ never loads")
    tests = modules_loaded(os.path.join(pkg, "test", "runtests.jl"))
    for mod in sorted(tests):
        top = mod.split(".")[0]
        if top in (project.get("name"), "Base", "Core") or top in deps:
            continue
        if top not in extras or top not in test_target:
            problems.append(f"test/runtests.jl loads {mod}, which is not an [extras] entry of the test target")

    if problems:
        for p in problems:
            print(f"MISMATCH {project_path}: {p}")
        return 1
    print(f"check_project.py: {project_path} is consistent (version {project['version']}, "
          f"deps {sorted(deps)}, test extras {sorted(test_target)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
