"""A third-party author's install, as a user makes it: wheels (not editable) of kelcore and only the plugins they
need, in a fresh virtual environment, with torch pinned by constraints.txt. A model-only install must work on its own:
list, check, spec, and say what is missing without naming a package as if an index had it."""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.runs_long(36)  # see conftest.pytest_collection_modifyitems

MODEL_ONLY = [REPO, REPO / "plugins" / "kel-contracts", REPO / "plugins" / "kel-plugin-groove",
              REPO / "examples" / "third_party_model"]


def run(*command: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600, **kwargs)


def link_torch(venv_dir: Path, layer: Path) -> None:
    """Give the fresh venv this environment's torch (754 MB unpacked: unpacking it was most of this fixture's time)
    through a .pth file: pip sees torch installed, holds it to constraints.txt's pin, and installs everything else,
    kelcore's wheels and their other dependencies, into the venv as a user's install does."""
    import torch

    site = Path(torch.__file__).parent.parent
    layer.mkdir()
    for name in ("torch", "torchgen", "functorch", *(p.name for p in site.glob("torch-*.dist-info"))):
        if (site / name).exists():
            (layer / name).symlink_to(site / name)
    purelib = run(venv_dir / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    (Path(purelib.stdout.strip()) / "kel-test-torch.pth").write_text(f"{layer}\n")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """bin/ of a fresh venv holding wheels of kelcore, kel-contracts, kel-plugin-groove and the example model."""
    root = tmp_path_factory.mktemp("wheels")
    wheels = root / "wheels"
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels,
                *MODEL_ONLY)
    assert built.returncode == 0, built.stderr[-2000:]
    venv.create(root / "venv")   # no pip of its own: this environment's pip installs into it (--python)
    link_torch(root / "venv", root / "torch")
    bin_dir = root / "venv" / "bin"
    names = ["kelcore", "kel-contracts", "kel-plugin-groove", "kel-plugin-tinygroove"]
    install = run(sys.executable, "-m", "pip", "--python", bin_dir / "python", "install", "-q", "--no-compile",
                  "--disable-pip-version-check", "--find-links", wheels, "-c", REPO / "constraints.txt", *names)
    missing = install.stderr.split("No matching distribution found for")[-1].strip()
    if install.returncode != 0 and "No matching distribution" in install.stderr and not missing.startswith("kel"):
        pytest.skip(f"a dependency cannot be installed here (no package index reachable): {install.stderr[-300:]}")
    assert install.returncode == 0, install.stderr[-3000:]
    return bin_dir


def kelcore(bin_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KELCORE_LOAD_PLUGINS", "VIRTUAL_ENV")}
    return run(bin_dir / "kelcore", *args, env=env, cwd=bin_dir.parent)


def test_wheels_install_without_the_repository(installed):
    where = run(installed / "python", "-c", "import kelcore, kel_contracts; print(kelcore.__file__); "
                                            "print(kel_contracts.native_dir())", cwd=installed.parent)
    assert where.returncode == 0, where.stderr
    assert all("site-packages" in line for line in where.stdout.splitlines())   # not the checkout
    header = run(installed / "python", "-c", "import kel_contracts; "
                                             "print((kel_contracts.native_dir() / 'KelFeatures.h').is_file())",
                 cwd=installed.parent)
    assert header.stdout.strip() == "True"


def test_a_model_only_install_lists_checks_and_points_to_what_is_missing(installed):
    plugins = kelcore(installed, "plugins")
    assert plugins.returncode == 0, plugins.stderr
    assert "kel-plugin-groove" in plugins.stdout and "kel-plugin-tinygroove" in plugins.stdout
    assert "LOAD ERROR" not in plugins.stdout
    check = kelcore(installed, "check", "tinygroove")
    assert check.returncode == 0, check.stdout + check.stderr
    spec = kelcore(installed, "spec", "--path")
    assert spec.returncode == 0 and spec.stdout.strip().endswith("ModelSpec.h") and "site-packages" in spec.stdout
    export = kelcore(installed, "export", "--untrained", "--out", "models")
    assert export.returncode == 2
    assert "no exporter plugin is loaded" in export.stderr and "README.md, section Installing" in export.stderr
    dataset = kelcore(installed, "data", "validate", "lakh", "--root", ".")
    assert dataset.returncode == 2 and "no installed distribution provides it" in dataset.stderr
    assert "pip install" not in dataset.stderr + export.stderr   # no package named as if an index had it
