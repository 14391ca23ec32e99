"""attnroll --blas-core: the OpenBLAS kernel the tool runs on.

Debian 12's OpenBLAS picks its slowest x86-64 kernel (Prescott) on CPUs newer
than itself.  `--blas-core auto` (the default) re-executes the tool once with
OPENBLAS_CORETYPE set to the CPU's best kernel; a user's OPENBLAS_CORETYPE is
respected; `keep` never re-executes; NAME forces a kernel the CPU can run.
What the CPU supports is read here from /proc/cpuinfo, independently of the
tool's CPUID code; what OpenBLAS picks by itself is what `--blas-core keep`
reports.  The number of program executions is counted with strace.
"""
import os
import re
import shutil
import subprocess

import pytest

from conftest import tool_path

KERNEL_LEVEL = {"prescott": 1, "core2": 1, "nehalem": 1, "sandybridge": 2, "haswell": 3, "zen": 3,
                "skylakex": 4, "cooperlake": 4, "sapphirerapids": 4}
BEST_KERNEL = {2: "Sandybridge", 3: "Haswell", 4: "SkylakeX"}


def cpu_level():
    """ATTNROLL_SIMD_* level from the kernel's view of the CPU (Linux drops
    the avx flags when the OS does not save the registers)."""
    with open("/proc/cpuinfo") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    if all(f in flags for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl")):
        return 4
    if "avx2" in flags and "fma" in flags:
        return 3
    return 2 if "avx" in flags else 1


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "ATTNROLL_BLAS_REEXEC", "ATTNROLL_BLAS_ORIG_CORETYPE")}
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.update(extra)
    return env


def run(args, env, count_execs=False, tmp_path=None):
    """(exit status, stdout, stderr, number of execve calls of the tool or None)."""
    cmd = [tool_path()] + args
    trace = None
    if count_execs:
        trace = str(tmp_path / "execve.trace")
        cmd = [shutil.which("strace"), "-f", "-qq", "-e", "trace=execve", "-o", trace] + cmd
        # LeakSanitizer cannot run under ptrace; the untraced runs check leaks.
        env = dict(env, ASAN_OPTIONS=env.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    execs = None
    if trace:
        with open(trace) as f:
            execs = sum(1 for line in f if "execve(" in line and line.rstrip().endswith("= 0"))
    return p.returncode, p.stdout, p.stderr, execs


def kernel_line(stdout):
    m = re.search(r"^BLAS kernel\s+(\S+)\s*(.*)$", stdout, re.M)
    assert m, f"no 'BLAS kernel' line in:\n{stdout}"
    return m.group(1), m.group(2)


def openblas_pick():
    rc, out, err, _ = run(["--blas-core", "keep", "--version"], clean_env())
    assert rc == 0, err
    kernel, how = kernel_line(out)
    assert "kept" in how
    return kernel


needs_strace = pytest.mark.skipif(shutil.which("strace") is None,
                                  reason="strace is not installed (scripts/install-deps.sh installs it)")


def test_version_names_library_blas_and_kernel():
    rc, out, err, _ = run(["--version"], clean_env())
    assert rc == 0, err
    assert re.search(r"libattnroll \d+\.\d+\.\d+", out)
    assert re.search(r"^BLAS\s+OpenBLAS \d", out, re.M), out
    kernel, _ = kernel_line(out)
    assert kernel.lower() in KERNEL_LEVEL


@needs_strace
def test_auto_runs_the_cpus_best_kernel_after_at_most_one_reexec(tmp_path):
    pick, level = openblas_pick(), cpu_level()
    rc, out, err, execs = run(["--version"], clean_env(), count_execs=True, tmp_path=tmp_path)
    assert rc == 0, err
    kernel, how = kernel_line(out)
    if KERNEL_LEVEL.get(pick.lower(), 99) < level:
        assert kernel == BEST_KERNEL[level]
        assert f"OpenBLAS picked {pick}" in how and "self-check passed" in how
        assert execs == 2
    else:
        assert kernel == pick and "OpenBLAS's choice" in how
        assert execs == 1
    assert err == ""


@needs_strace
def test_a_users_coretype_is_respected(tmp_path):
    rc, out, err, execs = run(["--version"], clean_env(OPENBLAS_CORETYPE="Prescott"), count_execs=True,
                              tmp_path=tmp_path)
    assert rc == 0, err
    kernel, how = kernel_line(out)
    assert kernel == "Prescott" and "from OPENBLAS_CORETYPE=Prescott" in how
    assert execs == 1


@needs_strace
def test_keep_never_reexecutes(tmp_path):
    pick = openblas_pick()
    rc, out, err, execs = run(["--blas-core=keep", "--version"], clean_env(), count_execs=True, tmp_path=tmp_path)
    assert rc == 0, err
    assert kernel_line(out)[0] == pick
    assert execs == 1


@needs_strace
def test_a_second_run_never_reexecutes_again(tmp_path):
    """The marker the first run leaves forbids another re-execution, whatever
    the kernel: no loop is possible."""
    pick = openblas_pick()
    rc, out, err, execs = run(["--version"], clean_env(ATTNROLL_BLAS_REEXEC="Prescott"), count_execs=True,
                              tmp_path=tmp_path)
    assert rc == 0, err
    assert kernel_line(out)[0] == pick
    assert execs == 1


@needs_strace
def test_named_kernel_is_forced(tmp_path):
    pick = openblas_pick()
    rc, out, err, execs = run(["--blas-core", "prescott", "--version"], clean_env(), count_execs=True,
                              tmp_path=tmp_path)
    assert rc == 0, err
    assert kernel_line(out)[0] == "Prescott"
    assert execs == (1 if pick == "Prescott" else 2)


@needs_strace
@pytest.mark.skipif(not os.environ.get("ATTNROLL_WRONG_SGEMM"),
                    reason="ATTNROLL_WRONG_SGEMM (the test build's libattnroll_wrong_sgemm.so) is not set")
def test_failed_selfcheck_falls_back_and_says_so(tmp_path):
    """A cblas_sgemm that spoils one element (tests/wrong_sgemm.c, preloaded)
    stands for a forced kernel that computes wrong products."""
    pick, level = openblas_pick(), cpu_level()
    if KERNEL_LEVEL.get(pick.lower(), 99) < level:
        args, forced = ["--version"], BEST_KERNEL[level]
    elif pick != "Prescott":
        args, forced = ["--blas-core", "Prescott", "--version"], "Prescott"
    else:
        pytest.skip("OpenBLAS already runs Prescott, the CPU's best: nothing to force")
    env = clean_env(LD_PRELOAD=os.environ["ATTNROLL_WRONG_SGEMM"],
                    ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
    rc, out, err, execs = run(args, env, count_execs=True, tmp_path=tmp_path)
    assert rc == 0, err
    assert f"OpenBLAS's {forced} kernel failed a self-check" in err
    kernel, how = kernel_line(out)
    assert kernel == pick and f"the {forced} kernel failed" in how
    assert execs == 3  # the first run, the forced kernel, back to OpenBLAS's pick


@pytest.mark.parametrize("mode, words", [("Skylake", ["--blas-core", "Skylake", "not"]),
                                         ("", ["--blas-core"])])
def test_unknown_kernel_is_refused(mode, words):
    rc, out, err, _ = run(["--blas-core", mode, "--version"], clean_env())
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attnroll: ")
    for w in words:
        assert w.lower() in lines[0].lower()


def test_kernel_above_the_cpu_is_refused():
    level = cpu_level()
    if level >= 4:
        pytest.skip("this CPU runs every kernel (AVX-512)")
    above = BEST_KERNEL[level + 1] if level + 1 in BEST_KERNEL else "Sandybridge"
    rc, out, err, _ = run(["--blas-core", above, "--version"], clean_env())
    assert rc == 2 and out == ""
    assert "needs" in err and above in err


def test_info_names_the_kernel_its_rollouts_would_use(tmp_path):
    import numpy as np
    path = tmp_path / "video_1_frames0-0_backbone_vit_layer_0_attn.npz"
    np.savez(path, attention_weights=np.full((1, 2, 5, 5), 0.2, np.float32))
    rc, out, err, _ = run(["info", str(path)], clean_env(OPENBLAS_CORETYPE="Prescott"))
    assert rc == 0, err
    assert str(path) in out
    assert kernel_line(out) == ("Prescott", "(from OPENBLAS_CORETYPE=Prescott; the CPU supports "
                                + {1: "SSE", 2: "AVX", 3: "AVX2", 4: "AVX512"}[cpu_level()] + ")")
