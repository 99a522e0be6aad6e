"""The C++ header is the source of truth: it compiles, and Python reads the same numbers."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from kelcore.spec import HEADER_PATH, SpecError, load_specs, parse_header

GXX = shutil.which("g++")
needs_gxx = pytest.mark.skipif(GXX is None, reason="g++ is not installed: cannot compile the C++ header")

PRINT_SPECS = r"""
#include "ModelSpec.h"
#include <cstdio>
int main() {
    for (const auto& s : kel::kAllModelSpecs)
        std::printf("%s %zu %zu %zu\n", s.name, s.inputSize, s.outputSize, s.paramCount);
}
"""


@needs_gxx
def test_header_compiles_as_cpp17():
    result = subprocess.run([GXX, "-std=c++17", "-fsyntax-only", "-x", "c++", str(HEADER_PATH)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@needs_gxx
def test_python_reads_what_cpp_compiles(tmp_path):
    source = tmp_path / "print_specs.cpp"
    source.write_text(PRINT_SPECS)
    binary = tmp_path / "print_specs"
    subprocess.run([GXX, "-std=c++17", "-I", str(HEADER_PATH.parent), str(source), "-o", str(binary)], check=True)
    lines = subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split("\n")
    from_cpp = {name: (int(i), int(o), int(p)) for name, i, o, p in (line.split() for line in lines if line)}
    from_python = {s.name: (s.input_size, s.output_size, s.param_count) for s in load_specs().values()}
    assert from_cpp == from_python
    assert len(from_cpp) == 5


def test_header_states_counting_convention():
    text = HEADER_PATH.read_text()
    assert "TRAINABLE parameters as PyTorch" in text
    assert "sum(p.numel() for p in model.parameters())" in text


def test_parser_rejects_a_malformed_spec_with_its_line():
    text = 'inline constexpr ModelSpec FooSpec { "Foo", 12, 3 };\n'
    with pytest.raises(SpecError, match=r"x\.h:1: cannot read ModelSpec definition"):
        parse_header(text, "x.h")


def test_parser_rejects_duplicates_and_mismatched_identifiers():
    line = 'inline constexpr ModelSpec FooSpec { "Foo", 1, 2, 3 };\n'
    with pytest.raises(SpecError, match="defined twice"):
        parse_header(line + line)
    with pytest.raises(SpecError, match="should be FooSpec"):
        parse_header('inline constexpr ModelSpec BarSpec { "Foo", 1, 2, 3 };')
    with pytest.raises(SpecError, match="no ModelSpec definitions"):
        parse_header("// nothing here\n")
