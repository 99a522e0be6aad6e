"""Everything generated from the contracts: docs/CONTRACTS.md and native/KelContracts.h.

``python -m kel_contracts.render --check`` exits 1 when a committed file is stale; without ``--check`` it
rewrites them (run from the repository root for the docs page).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from . import CONTRACTS, dynamics, emotion, groove, harmony, melody, native_dir, timing
from .layout import Contract

MODULES: dict[str, ModuleType] = {"emotion": emotion, "melody": melody, "harmony": harmony, "dynamics": dynamics,
                                  "groove": groove, "timing": timing}
GENERATED_NOTE = "Generated from kel_contracts by `python -m kel_contracts.render`: do not edit by hand."


# ----------------------------------------------------------------------------- C++
def _camel(name: str) -> str:
    return "k" + "".join(part.capitalize() for part in re.split(r"[_\W]+", name.lower()) if part)


def _cpp_value(value: Any) -> tuple[str, str] | None:
    """(C++ type, initialiser) of a constant, or None when it is not a plain number, string or flat array."""
    if isinstance(value, bool):
        return "bool", "true" if value else "false"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "double", repr(value)
    if isinstance(value, str):
        return "const char*", '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, tuple) and value and all(isinstance(v, type(value[0])) for v in value):
        inner = [_cpp_value(v) for v in value]
        if any(i is None or i[0] not in ("int", "double", "const char*") for i in inner):
            return None
        return f"{inner[0][0]}[{len(value)}]", "{" + ", ".join(i[1] for i in inner) + "}"
    return None


def _constants(module: ModuleType) -> list[str]:
    lines = []
    for name, value in vars(module).items():
        if not name.isupper() or name.startswith("_"):
            continue
        if isinstance(value, dict):       # e.g. drum groups, chord qualities: one array per key
            for key, item in value.items():
                lines += _declare(f"{name}_{key}", item)
        else:
            lines += _declare(name, value)
    return lines


def _declare(name: str, value: Any) -> list[str]:
    typed = _cpp_value(value)
    if typed is None:
        return []
    kind, init = typed
    if "[" in kind:
        base, size = kind.split("[")
        return [f"inline constexpr {base} {_camel(name)}[{size} = {init};"]
    return [f"inline constexpr {kind} {_camel(name)} = {init};"]


def _layout(contract: Contract) -> list[str]:
    lines = [f'inline constexpr const char* kVersion = "{contract.version}";',
             f"inline constexpr int kInputSize = {contract.inputs.size};",
             f"inline constexpr int kOutputSize = {contract.outputs.size};",
             f"inline constexpr double kNativeTolerance = {contract.native_tolerance!r};",
             f"inline constexpr bool kStandardisedInputs = {str(contract.input_normalisation == 'standardised').lower()};"]
    for prefix, layout in (("In", contract.inputs), ("Out", contract.outputs)):
        for segment in layout.segments:
            stem = _camel(segment.name)[1:]
            lines.append(f"inline constexpr int k{prefix}{stem} = {layout[segment.name]};"
                         + (f"  // {segment.size} elements" if segment.size > 1 else ""))
    return lines


def render_cpp() -> str:
    """The C++17 constants header every KelFeatures.h computation reads."""
    lines = [f"// {GENERATED_NOTE}", "// The feature contracts' constants and element offsets, for KelFeatures.h.",
             "#pragma once", "", "namespace kel::contracts {"]
    for space, module in MODULES.items():
        lines += ["", f"namespace {space} {{"]
        contract = getattr(module, "CONTRACT", None)
        if contract is not None:
            lines += _layout(contract)
        lines += _constants(module)
        lines.append(f"}} // namespace {space}")
    lines += ["", "} // namespace kel::contracts", ""]
    return "\n".join(lines)


def render_spec_asserts(spec_header: str = "ModelSpec.h", contracts_header: str = "KelContracts.h") -> str:
    """A C++17 translation unit that ties the two headers in C++ too: for every contract, ``static_assert``s
    that its input and output sizes are the ModelSpec's (ModelSpec.h is the source; the contracts follow it).
    Compiled by the tests; a plugin's build may compile it as well."""
    lines = [f"// {GENERATED_NOTE}", "// Compile-time proof that KelContracts.h follows ModelSpec.h.",
             f'#include "{spec_header}"', f'#include "{contracts_header}"', ""]
    for space, module in MODULES.items():
        contract = getattr(module, "CONTRACT", None)
        if contract is None:
            continue
        for side, size in (("input", "kInputSize"), ("output", "kOutputSize")):
            spec_field = f"kel::{contract.model}Spec.{side}Size"
            lines.append(f"static_assert(static_cast<size_t>(kel::contracts::{space}::{size}) == {spec_field}, "
                         f'"{contract.model}: the contract\'s {side} size is not ModelSpec.h\'s");')
    lines += ["", "int main() { return 0; }", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- Markdown
def _elements_table(contract: Contract, which: str) -> list[str]:
    layout = contract.inputs if which == "inputs" else contract.outputs
    rows = ["| index | name | meaning | scale |", "|---|---|---|---|"]
    for segment in layout.segments:
        start = layout[segment.name]
        index = str(start) if segment.size == 1 else f"{start}..{start + segment.size - 1}"
        name = segment.name if segment.size == 1 else f"{segment.name}_*"
        labels = f" ({', '.join(segment.labels)})" if segment.labels and segment.size <= 16 else ""
        rows.append(f"| {index} | `{name}` | {segment.meaning.replace('{label}', '*k*')}{labels} | {segment.scale} |")
    return rows


def _section(contract: Contract) -> list[str]:
    norm = ("standardised with the training split's mean and std (`metadata.feature_contract.normalization` of the exported file)"
            if contract.input_normalisation == "standardised" else "identity (the file says mean 0, std 1)")
    lines = [f"## {contract.model} {contract.inputs.size} → {contract.outputs.size} (version {contract.version})",
             "", f"- Datasets: {contract.datasets}.", f"- Step: {contract.step}.",
             f"- The plugin supplies: {contract.plugin_supplies}.", f"- Input normalisation: {norm}.",
             f"- Targets ({contract.target_size}): {contract.targets}.", f"- Decoding: {contract.decoding}",
             f"- A plugin's features may differ from training's by at most {contract.native_tolerance:g}"
             f"{' dB' if contract.model == 'EmotionRecognizer' else ''} per element (`kelcore native-check`).", "",
             "Inputs:", ""] + _elements_table(contract, "inputs") + ["", "Outputs:", ""]
    lines += _elements_table(contract, "outputs") + [""]
    if contract.details:
        lines += ["Exact definitions:", ""] + [f"- {d}" for d in contract.details] + [""]
    lines += ["Versions:", ""] + [f"- {c}" for c in contract.changes] + [""]
    return lines


def render_markdown() -> str:
    """docs/CONTRACTS.md."""
    lines = ["# Feature contracts", "", f"<!-- {GENERATED_NOTE} -->", "",
             "What every element of each model's input, output and training target means. A dataset plugin "
             "produces `Sequence(inputs[T, in], targets[T, target_size])` by these rules; the model plugin's "
             "`feature_contract()`, the metadata of every exported file, the C++ constants `KelContracts.h` and "
             "this page are all generated from one definition per model in `plugins/kel-contracts/kel_contracts/`. "
             "The C++ side of every contract is `KelFeatures.h` (see [NATIVE.md](NATIVE.md)); a test proves it "
             "computes the same features as training on real files.", "",
             "Normalisation: a standardised contract's dataset returns `normalization = {\"mean\": [...], "
             "\"std\": [...]}` fitted on the training split only and hands out `(x - mean) / std`; an identity "
             "contract's returns mean 0 and std 1. Exporters write it into the file, and the plugin applies it.", "",
             "## Timing (every MIDI contract)", ""] + [f"- {rule}" for rule in timing.TIMING_RULES] + [""]
    for contract in CONTRACTS.values():
        lines += _section(contract)
    return "\n".join(lines).rstrip() + "\n"


# ----------------------------------------------------------------------------- CLI
def targets(repo: Path) -> dict[Path, str]:
    return {repo / "docs" / "CONTRACTS.md": render_markdown(), native_dir() / "KelContracts.h": render_cpp()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="regenerate (or --check) docs/CONTRACTS.md and KelContracts.h")
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is stale")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository root (for docs/CONTRACTS.md)")
    args = parser.parse_args(argv)
    stale = []
    for path, text in targets(args.repo).items():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.write_text(text)
    for path in stale:
        print(f"{path}: {'stale' if args.check else 'regenerated'}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
