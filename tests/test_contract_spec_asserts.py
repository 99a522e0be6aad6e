"""ModelSpec.h and the generated KelContracts.h are tied in C++ too: static_asserts compiled with -Wall -Wextra
(issue 19, item 1). A contract whose size drifts from ModelSpec.h no longer compiles."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from kelcore.api import SPEC_HEADER
from kel_contracts import native_dir
from kel_contracts.render import render_spec_asserts

CXX = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def compile_check(tmp_path, spec_text: str) -> subprocess.CompletedProcess:
    (tmp_path / "ModelSpec.h").write_text(spec_text, encoding="utf-8")
    shutil.copy(native_dir() / "KelContracts.h", tmp_path / "KelContracts.h")
    (tmp_path / "check.cpp").write_text(render_spec_asserts(), encoding="utf-8")
    return subprocess.run([CXX, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                           str(tmp_path / "check.cpp")], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CXX is None, reason="no C++ compiler (g++ or $CXX)")
def test_the_contracts_static_assert_the_model_specs(tmp_path):
    text = SPEC_HEADER.read_text(encoding="utf-8")
    result = compile_check(tmp_path, text)
    assert result.returncode == 0, result.stderr
    drifted = text.replace('{ "DynamicsEngine", 32, 16,', '{ "DynamicsEngine", 33, 16,')
    assert drifted != text
    broken = compile_check(tmp_path, drifted)
    assert broken.returncode != 0
    assert "DynamicsEngine: the contract's input size is not ModelSpec.h's" in broken.stderr
