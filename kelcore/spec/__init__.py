"""The C++ ModelSpec header, read at run time: the only place spec numbers live.

The parser is deliberately strict: it accepts exactly the
``inline constexpr ModelSpec <Id> { "<name>", <in>, <out>, <params> };`` lines of
``ModelSpec.h`` and fails loudly on anything that looks like a spec but is not
in that form, so an edit to the header can never be half-read.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HEADER_PATH = Path(__file__).with_name("ModelSpec.h")
#: A ModelSpec.h to read instead of the installed one, when set: to try a new spec line (a sixth model) before it
#: is added to the header the C++ plugin and kelcore ship.
HEADER_ENV = "KELCORE_MODEL_SPEC"

_SPEC_LINE = re.compile(
    r'^\s*inline\s+constexpr\s+ModelSpec\s+(?P<ident>\w+)\s*\{\s*"(?P<name>\w+)"\s*,\s*'
    r"(?P<inp>\d+)\s*,\s*(?P<out>\d+)\s*,\s*(?P<params>\d+)\s*\}\s*;\s*(//.*)?$"
)
_LOOKS_LIKE_SPEC = re.compile(r"^\s*inline\s+constexpr\s+ModelSpec\s+\w+\s*\{")


class SpecError(ValueError):
    """The header could not be read as ModelSpec definitions."""


@dataclass(frozen=True)
class ModelSpec:
    """One C++ ``ModelSpec``: name, input size, output size, trainable parameter count."""

    name: str
    input_size: int
    output_size: int
    param_count: int


def parse_header(text: str, source: str = "ModelSpec.h") -> dict[str, ModelSpec]:
    """Parse ``ModelSpec`` definitions from header text; strict, with line numbers."""
    specs: dict[str, ModelSpec] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not _LOOKS_LIKE_SPEC.match(line):
            continue
        match = _SPEC_LINE.match(line)
        if match is None:
            raise SpecError(f"{source}:{lineno}: cannot read ModelSpec definition: {line.strip()!r}")
        name = match["name"]
        if match["ident"] != f"{name}Spec":
            raise SpecError(f"{source}:{lineno}: identifier {match['ident']} should be {name}Spec")
        if name in specs:
            raise SpecError(f"{source}:{lineno}: ModelSpec {name!r} defined twice")
        spec = ModelSpec(name, int(match["inp"]), int(match["out"]), int(match["params"]))
        if min(spec.input_size, spec.output_size, spec.param_count) <= 0:
            raise SpecError(f"{source}:{lineno}: ModelSpec {name!r} has a zero size")
        specs[name] = spec
    if not specs:
        raise SpecError(f"{source}: no ModelSpec definitions found")
    return specs


def header_path() -> Path:
    """The header specs are read from: ``$KELCORE_MODEL_SPEC`` when set, else the one shipped with kelcore."""
    return Path(os.environ[HEADER_ENV]) if os.environ.get(HEADER_ENV) else HEADER_PATH


@lru_cache(maxsize=4)
def _specs_of(path: str) -> dict[str, ModelSpec]:
    return parse_header(Path(path).read_text(encoding="utf-8"), path)


def load_specs() -> dict[str, ModelSpec]:
    """All specs of the header (:func:`header_path`), by name."""
    return _specs_of(str(header_path()))


load_specs.cache_clear = _specs_of.cache_clear  # type: ignore[attr-defined]


def get_spec(name: str) -> ModelSpec:
    """The spec called ``name``; the error lists the known names."""
    specs = load_specs()
    try:
        return specs[name]
    except KeyError:
        raise SpecError(f"no C++ ModelSpec named {name!r} in {header_path()}; known: {', '.join(specs)}") from None
