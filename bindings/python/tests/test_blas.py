"""blas_info, blas_kernel_level, blas_selfcheck, and the import-time warning
about an OpenBLAS kernel below the CPU's level."""

import json
import os
import platform
import subprocess
import sys
import textwrap

import pytest

import attnroll

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # bindings/python

NAMES = ["UNKNOWN", "SSE", "AVX", "AVX2", "AVX512"]
# The OpenBLAS core for each CPU level, as the header documents it.
BEST = {4: "SkylakeX", 3: "Haswell", 2: "Sandybridge"}


def cpuinfo_level():
    """The CPU's level from Linux's /proc/cpuinfo flags (which the kernel
    clears when it does not save the registers), or None off x86-64 Linux."""
    if platform.machine() not in ("x86_64", "AMD64") or not os.path.exists("/proc/cpuinfo"):
        return None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        else:
            return None
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return 4
    if {"avx2", "fma"} <= flags:
        return 3
    if "avx" in flags:
        return 2
    return 1


def run(code, *, warnings_option="always", **env_changes):
    """Runs code in a fresh /usr/bin/python3 (this interpreter) with the
    environment changed; returns the CompletedProcess."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONWARNINGS", None)
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    args = [sys.executable] + (["-W", warnings_option] if warnings_option else []) + ["-c", code]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)


# Imports attnroll recording every warning, prints them and blas_info() as JSON.
RECORD = textwrap.dedent("""\
    import json, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import attnroll
    print(json.dumps({
        "warnings": [{"category": w.category.__name__, "message": str(w.message),
                      "filename": w.filename, "lineno": w.lineno} for w in caught],
        "info": attnroll.blas_info(),
    }))
""")


def record(**env_changes):
    proc = run(RECORD, **env_changes)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def expected_message(info):
    gain = ("about 6x faster matrix products" if (info["kernel_level"], info["cpu_level"]) == (1, 4)
            else "faster matrix products")
    instead = f" instead of OPENBLAS_CORETYPE={info['coretype_env']}" if info["coretype_env"] else ""
    return (f"attnroll: OpenBLAS uses its {info['kernel']} kernel but this CPU supports "
            f"{NAMES[info['cpu_level']]}; start Python with OPENBLAS_CORETYPE="
            f"{BEST[info['cpu_level']]} set in the environment{instead} ({gain}; it cannot take "
            f"effect once OpenBLAS is loaded)")


def check_consistent(info, coretype_env):
    """blas_info() against the header's semantics."""
    assert set(info) == {"blas", "kernel", "kernel_level", "kernel_level_name", "cpu_level",
                         "cpu_level_name", "kernel_below_cpu", "best_kernel", "fix", "coretype_env"}
    assert all(isinstance(info[k], str) for k in ("blas", "kernel", "kernel_level_name",
                                                    "cpu_level_name", "best_kernel", "fix",
                                                    "coretype_env"))
    assert type(info["kernel_level"]) is int and type(info["cpu_level"]) is int
    assert type(info["kernel_below_cpu"]) is bool
    assert 0 <= info["kernel_level"] <= 4 and 0 <= info["cpu_level"] <= 4
    assert info["kernel_level_name"] == NAMES[info["kernel_level"]]
    assert info["cpu_level_name"] == NAMES[info["cpu_level"]]
    # The kernel's level is the table's level for its name.
    assert info["kernel_level"] == attnroll.blas_kernel_level(info["kernel"])
    kl, cl = info["kernel_level"], info["cpu_level"]
    assert info["kernel_below_cpu"] == (kl != 0 and cl != 0 and kl < cl)
    assert info["best_kernel"] == BEST.get(cl, "")
    if info["kernel_below_cpu"]:
        assert info["fix"] == "OPENBLAS_CORETYPE=" + info["best_kernel"]
    else:
        assert info["fix"] == ""
    assert info["coretype_env"] == coretype_env[:31]
    assert info["blas"]
    if info["blas"].startswith("OpenBLAS") and "DYNAMIC_ARCH" in info["blas"]:
        # A DYNAMIC_ARCH build names the core it chose in its description.
        assert info["kernel"] in info["blas"].split(), info


def test_blas_info_is_consistent():
    info = attnroll.blas_info()
    check_consistent(info, os.environ.get("OPENBLAS_CORETYPE", ""))
    assert info == attnroll.blas_info()  # the same facts on every call


def test_cpu_level_matches_proc_cpuinfo():
    want = cpuinfo_level()
    if want is None:
        pytest.skip("not x86-64 Linux")
    assert attnroll.blas_info()["cpu_level"] == want


@pytest.mark.parametrize("name, level", [
    ("SkylakeX", 4), ("skylakex", 4), ("SKYLAKEX", 4), ("Cooperlake", 4), ("SapphireRapids", 4),
    ("Haswell", 3), ("Zen", 3), ("Sandybridge", 2), ("Prescott", 1), ("Nehalem", 1),
    ("Core2", 1), ("Bogus", 0), ("", 0), ("SkylakeX ", 0),
])
def test_blas_kernel_level(name, level):
    assert attnroll.blas_kernel_level(name) == level


def test_blas_kernel_level_rejects_non_strings():
    with pytest.raises(TypeError):
        attnroll.blas_kernel_level(None)


def test_selfcheck_passes():
    passed, error = attnroll.blas_selfcheck()
    assert passed is True
    assert isinstance(error, float)
    # Single precision products of hundreds of terms are never exact, and
    # within the header's 1e-4 relative tolerance.
    assert 0 < error <= 1e-4, error


def test_public_names():
    for name in ("blas_info", "blas_kernel_level", "blas_selfcheck"):
        assert name in attnroll.__all__ and callable(getattr(attnroll, name))


def test_warning_iff_kernel_below_cpu_as_started():
    # This process's environment, whatever it is: one warning exactly when
    # the kernel is below the CPU's level, with the exact fix.
    got = record()
    info = got["info"]
    check_consistent(info, os.environ.get("OPENBLAS_CORETYPE", ""))
    if info["kernel_below_cpu"]:
        assert len(got["warnings"]) == 1, got
        w = got["warnings"][0]
        assert w["category"] == "RuntimeWarning"
        assert w["message"] == expected_message(info)
        # It points at the line that imported attnroll (line 4 of RECORD).
        assert (w["filename"], w["lineno"]) == ("<string>", 4), w
    else:
        assert got["warnings"] == [], got


def test_no_warning_with_the_best_kernel_forced():
    best = BEST.get(cpuinfo_level() or 0)
    if best is None:
        pytest.skip("no OpenBLAS core above SSE for this CPU")
    got = record(OPENBLAS_CORETYPE=best)
    info = got["info"]
    assert got["warnings"] == [], got
    assert info["kernel"] == best
    assert info["kernel_level"] == info["cpu_level"] == cpuinfo_level()
    assert not info["kernel_below_cpu"] and info["fix"] == ""
    assert info["coretype_env"] == best
    proc = run("import attnroll; print(attnroll.blas_selfcheck()[0])", OPENBLAS_CORETYPE=best)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-3000:]


def test_one_warning_with_prescott_forced():
    level = cpuinfo_level()
    if not level or level <= 1:
        pytest.skip("the CPU is not above SSE")
    got = record(OPENBLAS_CORETYPE="Prescott")
    info = got["info"]
    assert (info["kernel"], info["kernel_level"], info["cpu_level"]) == ("Prescott", 1, level)
    assert info["kernel_below_cpu"] is True
    assert info["fix"] == "OPENBLAS_CORETYPE=" + BEST[level]
    assert info["coretype_env"] == "Prescott"
    assert [w["category"] for w in got["warnings"]] == ["RuntimeWarning"], got
    message = got["warnings"][0]["message"]
    assert message == expected_message(info)
    assert f"start Python with OPENBLAS_CORETYPE={BEST[level]} set in the environment instead of " \
           "OPENBLAS_CORETYPE=Prescott" in message


def test_warning_on_stderr_once_naming_the_importer(tmp_path):
    # The warning as a user sees it, with -W always (no once-per-location
    # filtering): once, at the importing script's line, even when attnroll is
    # imported again and its submodules are imported too.
    level = cpuinfo_level()
    if not level or level <= 1:
        pytest.skip("the CPU is not above SSE")
    script = tmp_path / "importer.py"
    script.write_text("x = 1\n\nimport attnroll\nimport attnroll._blas\nfrom attnroll import spatial\n"
                      "import importlib; importlib.reload(attnroll)\n")
    env = dict(os.environ, OPENBLAS_CORETYPE="Prescott")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-W", "always", str(script)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("RuntimeWarning") == 1, proc.stderr
    assert proc.stderr.startswith(f"{script}:3: RuntimeWarning: attnroll: OpenBLAS uses its "
                                  f"Prescott kernel but this CPU supports {NAMES[level]}; "
                                  f"start Python with OPENBLAS_CORETYPE={BEST[level]}"), proc.stderr


def test_warning_can_be_silenced():
    level = cpuinfo_level()
    if not level or level <= 1:
        pytest.skip("the CPU is not above SSE")
    # The two ways the README gives.
    proc = run("import warnings\n"
               "warnings.filterwarnings('ignore', message='attnroll: OpenBLAS', category=RuntimeWarning)\n"
               "import attnroll; print(attnroll.blas_info()['kernel_below_cpu'])",
               warnings_option=None, OPENBLAS_CORETYPE="Prescott")
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-3000:]
    assert proc.stderr == ""
    proc = run("import attnroll", warnings_option=None, OPENBLAS_CORETYPE="Prescott",
               PYTHONWARNINGS="ignore:attnroll:RuntimeWarning")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr[-3000:]
    # And without a filter it is shown (Python's default shows RuntimeWarning).
    proc = run("import attnroll", warnings_option=None, OPENBLAS_CORETYPE="Prescott")
    assert proc.returncode == 0 and proc.stderr.count("RuntimeWarning: attnroll: OpenBLAS") == 1, \
        proc.stderr[-3000:]


def test_selfcheck_passes_with_the_fallback_kernel():
    proc = run("import attnroll; p, e = attnroll.blas_selfcheck(); print(p, e)",
               OPENBLAS_CORETYPE="Prescott")
    assert proc.returncode == 0, proc.stderr[-3000:]
    passed, error = proc.stdout.split()
    assert passed == "True" and 0 < float(error) <= 1e-4, proc.stdout
