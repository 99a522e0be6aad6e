"""kel::Runtime as a plugin project consumes it: the CMake package (installed, then `find_package(KelRuntime)` and
`kel::runtime` in a fresh project that loads the exported models) and `add_subdirectory`; the JUCE adapter
(KelRuntimeJuce.h) compiled against JUCE's module headers where Debian's juce-modules-source provides them."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import NO_RTNEURAL, RTNEURAL_DIR, run_kelcore

pytestmark = [pytest.mark.runs_long(18), pytest.mark.skipif(RTNEURAL_DIR is None, reason=NO_RTNEURAL),
              pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")]
JUCE_MODULES = Path("/usr/share/juce/modules")

CONSUMER = r"""
#include "KelRuntime.h"
#include <cstdio>
int main(int argc, char** argv) {
    kel::Runtime runtime;
    kel::Runtime::Options options;
    options.mode = kel::Runtime::Mode::Synchronous;
    const auto status = runtime.prepare(48000.0, 256, kel::ModelFiles::inFolder(argv[1]), options);
    for (const auto& r : status.refusals)
        std::printf("refused %s %s\n", r.file.c_str(), r.field.c_str());
    kel::Transport transport;
    kel::MidiEvent events[2] = {{0, kel::MidiEvent::NoteOn, 0, 60, 90}, {100, kel::MidiEvent::NoteOff, 0, 60, 0}};
    for (int b = 0; b < 2000; ++b, transport.ppq += 256.0 * 2.0 / 48000.0) {
        transport.barIndex = static_cast<std::int64_t>(transport.ppq / 4.0);
        transport.barStartPpq = 4.0 * static_cast<double>(transport.barIndex);
        runtime.process(nullptr, 0, 256, events, b % 24 == 0 ? 2 : 0, transport);
    }
    runtime.finish();
    std::printf("loaded %d harmony steps %lld\n", status.loaded,
                static_cast<long long>(runtime.output(kel::Model::Harmony).step + 1));
    return argc > 1 && status.ok() ? 0 : 1;
}
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runtime-cmake-models")
    done = run_kelcore("export", "--untrained", "--seed", "0", "--out", str(out), "--cpp")
    assert done.returncode == 0, done.stderr
    return out


def _run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_installed_cmake_package_gives_kel_runtime_to_a_fresh_project(models, tmp_path):
    from kel_runtime import native_dir

    build, prefix = tmp_path / "runtime-build", tmp_path / "prefix"
    configure = _run(["cmake", "-S", str(native_dir()), "-B", str(build), f"-DRTNEURAL_DIR={RTNEURAL_DIR}",
                      f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    assert configure.returncode == 0, configure.stdout + configure.stderr
    installed = _run(["cmake", "--install", str(build)])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (prefix / "include" / "kel" / "KelRuntime.h").is_file()
    project = tmp_path / "consumer"
    project.mkdir()
    (project / "main.cpp").write_text(CONSUMER)
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(Consumer CXX)\nfind_package(KelRuntime 0.1 CONFIG REQUIRED)\n"
        "add_executable(consumer main.cpp)\ntarget_link_libraries(consumer PRIVATE kel::runtime)\n"
        "target_compile_options(consumer PRIVATE -Wall -Wextra -Werror -O1)\n")
    configure = _run(["cmake", "-S", str(project), "-B", str(project / "build"), f"-DCMAKE_PREFIX_PATH={prefix}"])
    assert configure.returncode == 0, configure.stdout + configure.stderr
    built = _run(["cmake", "--build", str(project / "build")])
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    ran = _run([str(project / "build" / "consumer"), str(models)])
    assert ran.returncode == 0 and "loaded 5 harmony steps" in ran.stdout, ran.stdout + ran.stderr
    assert int(ran.stdout.split()[-1]) >= 16   # 2,000 blocks of 256 frames at 120 qpm: 21.3 beats


@pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")
def test_add_subdirectory_defines_kel_runtime(tmp_path):
    from kel_runtime import native_dir

    project = tmp_path / "sub"
    project.mkdir()
    (project / "main.cpp").write_text("int main() { return 0; }\n")
    (project / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.16)\nproject(Sub CXX)\n"
        f"add_subdirectory({native_dir().as_posix()} kel-runtime)\n"
        "add_executable(plugin main.cpp)\ntarget_link_libraries(plugin PRIVATE kel::runtime)\n"
        "get_target_property(dirs kel_runtime INTERFACE_INCLUDE_DIRECTORIES)\nmessage(STATUS \"kel dirs: ${dirs}\")\n")
    configure = _run(["cmake", "-S", str(project), "-B", str(project / "build"), f"-DRTNEURAL_DIR={RTNEURAL_DIR}"])
    assert configure.returncode == 0, configure.stdout + configure.stderr
    assert "kel_contracts/native" in configure.stdout
    missing = _run(["cmake", "-S", str(project), "-B", str(tmp_path / "bad"), "-DRTNEURAL_DIR=/nonexistent"])
    assert missing.returncode != 0 and "has no RTNeural/RTNeural.h" in missing.stderr


@pytest.mark.skipif(not (JUCE_MODULES / "juce_audio_processors").is_dir(),
                    reason="JUCE's module headers are not installed (Debian: apt-get install juce-modules-source)")
def test_the_juce_adapter_compiles_against_juce(tmp_path):
    from kel_contracts import native_dir as features_dir
    from kel_runtime import native_dir

    source = tmp_path / "adapter.cpp"
    source.write_text('#include "KelRuntimeJuce.h"\n'
                      "void processBlock(kel::JuceRuntime& ml, juce::AudioBuffer<float>& audio, juce::MidiBuffer& midi,"
                      " juce::AudioPlayHead* head) { ml.process(audio, midi, head); }\n"
                      "kel::Transport stopped() { return kel::JuceRuntime::transportOf(nullptr); }\n")
    compiled = _run(["g++", "-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-DJUCE_GLOBAL_MODULE_SETTINGS_INCLUDED=1",
                     "-DJUCE_STANDALONE_APPLICATION=1", "-DJUCE_MODULE_AVAILABLE_juce_audio_processors=1",
                     f"-I{JUCE_MODULES}", f"-I{native_dir()}", f"-I{features_dir()}", "-isystem", str(RTNEURAL_DIR),
                     "-isystem", str(RTNEURAL_DIR / "modules" / "Eigen"), "-DRTNEURAL_USE_EIGEN=1", str(source)])
    assert compiled.returncode == 0, compiled.stderr[-6000:]


def test_a_build_is_cached_by_content_so_another_checkout_reuses_it(tmp_path):
    """kel_runtime.build keys a binary by the headers' content, not their folder's path: a fresh clone elsewhere (CI)
    reuses what this checkout built; a changed header builds again."""
    from kel_runtime.build import build

    def checkout(name: str, value: int) -> tuple[Path, list[str]]:
        folder = tmp_path / name / "native"
        folder.mkdir(parents=True)
        (folder / "value.h").write_text(f"inline int value() {{ return {value}; }}\n")
        (folder / "main.cpp").write_text('#include "value.h"\nint main() { return value(); }\n')
        return folder / "main.cpp", ["-std=c++17", "-Wall", "-Wextra", f"-I{folder}"]

    library = tmp_path / "library"             # an include folder outside the inputs, reached through a symlink
    library.mkdir()
    (tmp_path / "link").symlink_to(library)

    def built(name: str, value: int) -> Path:
        source, flags = checkout(name, value)
        path = library if name == "a" else tmp_path / "link"
        return build(source, [*flags, f"-I{path}"], tmp_path / "cache", inputs=[source.parent / "value.h"])

    first = built("a", 3)
    second = built("b", 3)
    assert second == first and len(list((tmp_path / "cache").iterdir())) == 1
    changed = built("c", 4)
    assert changed != first
    assert subprocess.run([str(first)]).returncode == 3 and subprocess.run([str(changed)]).returncode == 4
