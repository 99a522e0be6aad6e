"""The install story (issue 17): README.md's "Installing" table says, per model, which distributions train and export
it, computed here from the registry and every pyproject.toml (``python tests/test_install_story.py`` prints it);
`make wheels` builds every distribution so that `pip install --find-links dist kel-plugin-groove` resolves its
in-repo dependencies from dist/ alone."""
from __future__ import annotations

import email
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.runs_long(22)  # see conftest.pytest_collection_modifyitems

REPO = Path(__file__).resolve().parent.parent
EXPORTER_DIST = "kel-plugin-rtneural"   # the exporter every job of examples/ uses
TABLE_START = ("| model | model plugin | datasets (their plugin) | install from this repository: model, datasets, "
               "exporter, their dependencies |")


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip()


def projects() -> dict[str, tuple[Path, list[str]]]:
    """Distribution name -> (its folder, relative to the repository; its dependencies' names)."""
    found = {}
    for pyproject in [REPO / "pyproject.toml", *sorted(REPO.glob("plugins/*/pyproject.toml"))]:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
        found[project["name"]] = (pyproject.parent.relative_to(REPO),
                                  [_name(r) for r in project.get("dependencies", [])])
    return found


def closure(names: list[str], known: dict[str, tuple[Path, list[str]]]) -> list[str]:
    """``names`` and every in-repo distribution they depend on, in the order met."""
    seen: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop(0)
        if name in known and name not in seen:
            seen.append(name)
            todo += known[name][1]
    return seen


def install_table() -> str:
    """The README's table: one row per in-repo model, its datasets, and the `pip install` that gets them all."""
    from kelcore.plugins import get_registry

    known = projects()
    registry = get_registry()
    lines = [TABLE_START, "|---|---|---|---|"]
    for name, model in sorted(registry.components["models"].items()):
        if model.distribution not in known:
            continue
        spec = model.obj.spec_name
        datasets = [(dn, dc.distribution) for dn, dc in sorted(registry.components["datasets"].items())
                    if dc.distribution in known and spec in set((getattr(dc.obj, "tasks", None) or {}).values())]
        needed = closure([model.distribution, *[d for _, d in datasets], EXPORTER_DIST], known)
        folders = " ".join("." if str(known[d][0]) == "." else f"./{known[d][0]}" for d in needed)
        lines.append(f"| `{name}` ({spec}) | {model.distribution} | "
                     + ", ".join(f"`{dn}` ({dd})" for dn, dd in datasets)
                     + f" | `pip install -c constraints.txt {folders}` |")
    return "\n".join(lines)


def readme_table() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(TABLE_START)
    end = text.index("\n\n", start)
    return text[start:end]


def test_readme_install_table_is_what_the_distributions_declare():
    assert readme_table() == install_table(), "regenerate with: .venv/bin/python tests/test_install_story.py"


def test_every_plugin_folder_is_named_after_its_distribution():
    for name, (folder, _) in projects().items():
        assert str(folder) == "." or folder.name == name, (folder, name)


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheels") / "dist"
    made = subprocess.run(["make", "-s", "wheels", f"DIST={out}"], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert made.returncode == 0, made.stdout + made.stderr
    return out


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return email.message_from_bytes(archive.read(name))


def test_make_wheels_builds_every_distribution_and_their_dependencies_resolve_in_dist(dist):
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    built = {canonicalize_name(m["Name"]): m["Version"] for m in map(wheel_metadata, dist.glob("*.whl"))}
    assert set(built) >= {canonicalize_name(n) for n in projects()} | {"kel-hostbench"}
    ours = set(built)
    for wheel in dist.glob("*.whl"):
        for text in wheel_metadata(wheel).get_all("Requires-Dist") or []:
            requirement = Requirement(text)
            if requirement.marker is not None and "extra" in str(requirement.marker):
                continue
            name = canonicalize_name(requirement.name)
            if name in ours or name.startswith("kel"):
                assert name in built, f"{wheel.name} needs {requirement}, which dist/ lacks"
                assert requirement.specifier.contains(built[name], prereleases=True), (wheel.name, text)


def test_pip_resolves_one_model_from_dist(dist, tmp_path):
    """What the README says, resolved by pip itself (a dry run: nothing installed)."""
    report = tmp_path / "report.json"
    resolved = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                               "--find-links", str(dist), "-c", str(REPO / "constraints.txt"), "--report",
                               str(report), "kel-plugin-groove", "kel-plugin-groove-midi", EXPORTER_DIST],
                              capture_output=True, text=True, timeout=600)
    if resolved.returncode != 0 and "kel" not in resolved.stderr.split("No matching distribution")[-1][:80]:
        pytest.skip(f"no package index reachable for the third-party dependencies: {resolved.stderr[-300:]}")
    assert resolved.returncode == 0, resolved.stderr[-2000:]
    installs = {item["metadata"]["name"]: item["download_info"]["url"]
                for item in json.loads(report.read_text())["install"]}
    for name in ("kelcore", "kel-contracts", "kel-midi-features", "kel-plugin-groove", "kel-plugin-groove-midi",
                 EXPORTER_DIST):
        assert name in installs and installs[name].startswith(dist.as_uri()), (name, installs.get(name))


if __name__ == "__main__":
    print(install_table())
