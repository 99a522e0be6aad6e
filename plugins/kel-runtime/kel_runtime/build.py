"""The one native build helper: compile a C++ driver or host against the contracts' and the runtime's headers,
cached by a hash of everything that goes into the binary.

Used by the parity drivers (:mod:`kel_runtime.midi_parity`, :mod:`kel_runtime.audio_parity`), the stream player
(:mod:`kel_runtime.stream`) and kel-hostbench's native host.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable, Sequence

__all__ = ["BuildError", "DRIVER_FLAGS", "compiler", "build", "portable_flags"]

# The parity drivers' flags: warnings are errors, and no fused multiply-add (-ffp-contract=off), so that the C++
# features round as training's numpy does.
DRIVER_FLAGS = ("-std=c++17", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off")


class BuildError(RuntimeError):
    """A binary could not be built: no compiler, or the compiler's output (the message holds it)."""


def compiler(cxx: str | None = None) -> list[str]:
    """The compiler command: ``cxx``, else $CXX, else g++ (split as a shell would: ``ccache g++`` works)."""
    command = shlex.split(cxx or os.environ.get("CXX") or "g++")
    if not command or (shutil.which(command[0]) is None and not Path(command[0]).is_file()):
        raise BuildError(f"no C++ compiler: {' '.join(command) or 'g++'} not found (install g++ or set CXX)")
    return command


def portable_flags(flags: Sequence[str], inputs: dict[Path, bytes]) -> list[str]:
    """``flags`` with every folder that holds ``inputs`` (path -> content) written as a hash of the files it contributes instead of its
    path: the same sources in another checkout (CI's fresh clone, a user's second copy) share one cache entry, and
    two folders are never confused (their files differ, or they are interchangeable)."""
    folders: dict[str, Any] = {}
    for path, content in inputs.items():
        folder = folders.setdefault(str(path.parent), hashlib.sha256())
        folder.update(path.name.encode() + b"\0" + content)
    tokens = sorted(((name, f"<headers:{h.hexdigest()[:16]}>") for name, h in folders.items()),
                    key=lambda item: len(item[0]), reverse=True)   # a subfolder before its parent
    portable = []
    for flag in flags:
        for name, token in tokens:
            flag = flag.replace(name, token)
        portable.append(_real(flag))
    return portable


def _real(flag: str) -> str:
    """An include folder outside the inputs (RTNeural) by its real path: ``../shared`` reached through a symlink
    from another clone is the same checkout."""
    prefix = "-I" if flag.startswith("-I") else ""
    folder = flag[len(prefix):]
    return prefix + os.path.realpath(folder) if folder.startswith("/") and os.path.isdir(folder) else flag


def build(source: Path, flags: Sequence[str], build_dir: Path, *, inputs: Iterable[Path] = (), key: str = "",
          name: str | None = None, cxx: str | None = None) -> Path:
    """Compile ``source`` with ``flags`` into ``build_dir``; the binary is named ``<name>-<hash>`` (``name``
    defaults to the source's stem), the hash covering the compiler command, the flags, the source, every file of
    ``inputs`` (headers) and ``key`` (anything else the binary depends on). A binary already there is returned as it
    is; a new one is written under a temporary name and moved into place, so concurrent builders never see half a
    binary. Folders of ``inputs`` named in the flags count by content, not path (:func:`portable_flags`). Raises
    :class:`BuildError`."""
    command = compiler(cxx)
    source = Path(source)
    contents = {path: path.read_bytes() for path in [source, *sorted(Path(p) for p in inputs)]}
    headers = {path: content for path, content in contents.items() if path != source}
    digest = hashlib.sha256(" ".join([*command, *portable_flags(flags, headers)]).encode() + b"\0" + key.encode())
    for path, content in contents.items():
        digest.update(path.name.encode() + b"\0" + content)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    binary = build_dir / f"{name or source.stem}-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    partial = build_dir / f".{binary.name}.{os.getpid()}.tmp"
    full = [*command, *flags, str(source), "-o", str(partial)]
    done = subprocess.run(full, capture_output=True, text=True)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BuildError(f"compiling {source.name} failed ({' '.join(full)}):\n{(done.stdout + done.stderr)[-6000:]}")
    os.replace(partial, binary)
    return binary
