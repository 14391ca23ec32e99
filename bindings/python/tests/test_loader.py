"""Finding and checking the shared library."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import attnroll

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_ROOT = os.path.dirname(HERE)  # bindings/python


def run_python(code, **env_changes):
    env = dict(os.environ)
    env["PYTHONPATH"] = PACKAGE_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    for k, v in env_changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)


def test_version():
    assert attnroll.__version__ == "1.0.0"
    assert attnroll.version_number() == 10000
    assert isinstance(attnroll.version_number(), int)


def test_library_path_exists():
    assert isinstance(attnroll.library_path, str)
    assert os.path.exists(attnroll.library_path)
    wanted = os.environ.get("ATTNROLL_LIBRARY")
    if wanted:
        assert os.path.samefile(attnroll.library_path, wanted)


def test_public_names():
    for name in ["spatial", "temporal", "select_instance", "minmax_rows", "column_mean",
                 "minmax", "Stream", "Error", "ArgumentError", "ShapeError", "DtypeError",
                 "OverlapError", "StateError", "OutOfMemoryError", "InternalError",
                 "version_number", "library_path", "__version__"]:
        assert hasattr(attnroll, name), name


def test_missing_library_names_every_place_tried(tmp_path):
    missing = str(tmp_path / "nowhere" / "libattnroll.so.1")
    proc = run_python("import attnroll", ATTNROLL_LIBRARY=missing)
    assert proc.returncode != 0
    err = proc.stderr
    assert "ImportError" in err or "OSError" in err, err
    assert missing in err, err
    assert "ATTNROLL_LIBRARY" in err, err


def test_not_a_library(tmp_path):
    fake = tmp_path / "libattnroll.so.1"
    fake.write_text("not an ELF file")
    proc = run_python("import attnroll", ATTNROLL_LIBRARY=str(fake))
    assert proc.returncode != 0
    assert str(fake) in proc.stderr
    assert "ImportError" in proc.stderr or "OSError" in proc.stderr


def test_explicit_library_is_used():
    path = attnroll.library_path
    proc = run_python("import attnroll, numpy as np; print(attnroll.library_path); "
                      "print(attnroll.spatial([np.ones((1, 2, 2), np.float32)]).tolist())",
                      ATTNROLL_LIBRARY=path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert os.path.samefile(lines[0], path)
    # ones + I, rows normalised: [[2, 1], [1, 2]] / 3
    np.testing.assert_allclose(eval(lines[1]), [[2 / 3, 1 / 3], [1 / 3, 2 / 3]], rtol=0, atol=1e-7)


def copy_package(tmp_path):
    """A copy of the package's sources in tmp/repo/bindings/python/attnroll,
    so that neither the package directory nor the source tree holds a library."""
    root = tmp_path / "repo" / "bindings" / "python"
    shutil.copytree(os.path.join(PACKAGE_ROOT, "attnroll"), root / "attnroll",
                    ignore=shutil.ignore_patterns("*.so*", "__pycache__"))
    return root


def run_copy(root, code):
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATTNROLL_LIBRARY", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PYTHONPATH"] = str(root)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=60, cwd=str(root))


def test_nothing_found_lists_every_place_tried(tmp_path):
    root = copy_package(tmp_path)
    proc = run_copy(root, "import attnroll")
    if proc.returncode == 0:
        pytest.skip("a libattnroll is installed system-wide")
    err = proc.stderr
    assert "ImportError" in err, err
    assert "ATTNROLL_LIBRARY" in err, err        # says how to fix it
    assert "libattnroll.so.1" in err, err       # the system loader's name was tried
    assert "tried" in err.lower(), err
    # Every place the README names is listed, also those that held nothing:
    # the package directory and the source tree's build/src/.
    assert str(root / "attnroll") in err, err
    assert str(tmp_path / "repo" / "build" / "src") in err, err


def test_found_in_the_source_tree_build(tmp_path):
    root = copy_package(tmp_path)
    build = tmp_path / "repo" / "build" / "src"
    build.mkdir(parents=True)
    os.symlink(os.path.realpath(attnroll.library_path), build / "libattnroll.so.1")
    proc = run_copy(root, "import attnroll; print(attnroll.library_path)")
    assert proc.returncode == 0, proc.stderr
    assert os.path.samefile(proc.stdout.strip(), build / "libattnroll.so.1")


def test_found_in_the_package_directory(tmp_path):
    root = copy_package(tmp_path)
    shutil.copy(os.path.realpath(attnroll.library_path), root / "attnroll" / "libattnroll.so.1")
    proc = run_copy(root, "import attnroll, numpy as np; print(attnroll.library_path); "
                          "print(attnroll.version_number())")
    assert proc.returncode == 0, proc.stderr
    path, version = proc.stdout.split()
    assert os.path.samefile(path, root / "attnroll" / "libattnroll.so.1")
    assert version == "10000"


def test_result_dtype_independent_of_import_state():
    # Sanity: a fresh interpreter gives the same numbers as this one.
    a = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3) / 10
    here = attnroll.spatial([a, a[::-1]], out_dtype=np.float64)
    code = ("import attnroll, numpy as np\n"
            "a = np.arange(18, dtype=np.float32).reshape(2, 3, 3) / 10\n"
            "print(repr(attnroll.spatial([a, a[::-1]], out_dtype=np.float64).tolist()))")
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert eval(proc.stdout) == here.tolist()
