"""Shared fixtures: the real `kelcore` command, and test plugins installed as
distributions (a *.dist-info folder with entry_points.txt on PYTHONPATH, which is
exactly what importlib.metadata reads for an installed package)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import cli_fork

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SHARED = REPO.parent / "shared"
TEST_PLUGINS = TESTS / "plugins"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One compute thread per test worker (and per `kelcore` it starts): the workers already use every core, and
    # oversubscribed BLAS/torch threads make each worker slower than it would be alone.
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    import torch

    torch.set_num_threads(1)
KELCORE_BIN = Path(sys.executable).with_name("kelcore")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Test files marked ``runs_long(seconds)`` first, longest first, then the others by their number of tests.

    Why: `make test` runs ``--dist loadfile --no-loadscope-reorder``, so its workers take whole files in this order.
    xdist's own order (by number of tests) put the quickstart file, one test of 73 s, last: the other worker sat idle
    for 68 s of a 311 s run. Longest first lets both workers finish together; the seconds only order the files."""
    by_file: dict[Path, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.path, []).append(item)

    def order(path: Path) -> tuple[float, int]:
        runs_long = by_file[path][0].get_closest_marker("runs_long")
        return -(runs_long.args[0] if runs_long else 0), -len(by_file[path])

    items[:] = [item for path in sorted(by_file, key=order) for item in by_file[path]]


def rtneural_dir() -> Path | None:
    """The RTNeural checkout every native test builds against: $RTNEURAL_DIR when set, else the pinned snapshot in
    ../shared/vendor/RTNeural (with its Eigen and json copies; read-only there: builds go to pytest's temporary
    folders or the build helpers' caches, never next to it). None when neither exists."""
    configured = os.environ.get("RTNEURAL_DIR")
    if configured:
        return Path(configured)
    vendored = SHARED / "vendor" / "RTNeural"
    return vendored if (vendored / "RTNeural" / "RTNeural.h").is_file() else None


def build_cxx(source: Path, flags: list[str], inputs: list[Path], name: str | None = None) -> Path:
    """Compile a test's C++ ``source`` with ``flags`` through kel_runtime.build's cache ($KEL_RUNTIME_CACHE, else
    ~/.cache/kel-runtime), keyed by the compiler, the flags and the content of ``source`` and ``inputs`` (headers):
    an unchanged build is not redone, in this checkout or a fresh clone. Flags that judge warnings hold -Werror, so a
    cached binary was built warning-free. Raises kel_runtime.build.BuildError with the compiler's output."""
    from kel_runtime import build
    from kel_runtime.stream import cache_root

    return build.build(source, flags, cache_root() / "tests", inputs=inputs, name=name)


RTNEURAL_DIR = rtneural_dir()
NO_RTNEURAL = "no RTNeural: set RTNEURAL_DIR to a checkout, or provide ../shared/vendor/RTNeural"
needs_rtneural = pytest.mark.skipif(RTNEURAL_DIR is None, reason=NO_RTNEURAL)

# distribution name -> (entry point name, module)
TEST_DISTRIBUTIONS = {
    "kel-test-plugin": ("toy", "kel_test_plugin"),
    "kel-broken-plugin": ("broken", "kel_broken_plugin"),
    "kel-dupe-plugin": ("dupe", "kel_dupe_plugin"),
    "kel-wrong-plugin": ("wrong", "kel_wrong_plugin"),
    "kel-author-plugin": ("author", "kel_author_plugin"),
}


def install_fake_distributions(site: Path, names: list[str]) -> None:
    """Write minimal dist-info folders so entry points are discovered."""
    for dist in names:
        entry, module = TEST_DISTRIBUTIONS[dist]
        info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1.0\n")
        (info / "entry_points.txt").write_text(f"[kelcore]\n{entry} = {module}\n")


def plugin_environment(root: Path, *dists: str, only: bool = True, **extra: str) -> dict[str, str]:
    """Environment for a subprocess with the test plugins ``dists`` installed (dist-info folders under
    ``root``/site); ``only`` restricts loading to them (no in-repo plugins); ``extra`` adds variables."""
    site = root / "site"
    install_fake_distributions(site, list(dists))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(TEST_PLUGINS), env.get("PYTHONPATH", "")])
    if only:
        env["KELCORE_LOAD_PLUGINS"] = ",".join(dists)
    env.pop("KELCORE_STRICT_PLUGINS", None)
    env.update(extra)
    return env


@pytest.fixture
def plugin_env(tmp_path):
    """``plugin_env(*dists, only=True, **extra)`` -> plugin_environment in this test's temporary folder."""
    return lambda *dists, only=True, **extra: plugin_environment(tmp_path, *dists, only=only, **extra)


def run_kelcore(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `kelcore ARGS` in its own process: a fork of a warm server (tests/cli_fork.py: the same command without
    importing torch and the plugins again each time), or the installed console script when KELCORE_TEST_SUBPROCESS
    is set."""
    if cli_fork.enabled():
        return cli_fork.run(list(args), env, cwd, timeout)
    command = [str(KELCORE_BIN)] if KELCORE_BIN.exists() else [sys.executable, "-m", "kelcore.cli"]
    return subprocess.run(command + list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def run_hostbench(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `hostbench ARGS` as run_kelcore runs kelcore."""
    if cli_fork.enabled():
        return cli_fork.run(list(args), env, None, timeout, program="hostbench")
    return subprocess.run([str(KELCORE_BIN.with_name("hostbench")), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def kelcore():
    return run_kelcore
