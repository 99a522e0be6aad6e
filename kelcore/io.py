"""Generic file helpers: the one atomic writer, content digests.

Everything kelcore writes that a reader may see half-written (run records, checkpoints, cache entries, exported
files) goes through :func:`atomic_write`: a temp file in the same folder, flushed and fsynced, then renamed over
the target, so a killed process leaves the old file or the new one, never a torn one.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterator

from .errors import UsageError

__all__ = ["atomic_write", "write_text_atomic", "write_json_atomic", "file_digest", "config_digest", "OUTPUT_MARKER",
           "claim_output_folder", "mark_output_folder", "ForeignFilesError"]

#: The file kelcore leaves in every user-named folder it writes into (``data demo``, ``export --out``,
#: ``hostbench run --out``): a folder holding it (or a demo corpus's ``.kelcore-demo``) may be written again.
OUTPUT_MARKER = ".kelcore-output"
_OWNED_BY = (OUTPUT_MARKER, ".kelcore-demo")


class ForeignFilesError(UsageError):
    """A user-named output folder holds files kelcore did not write: nothing was written (bad input, exit 2)."""


@contextmanager
def atomic_write(path: Path | str, mode: str = "w", encoding: str | None = "utf-8",
                 durable: bool = True) -> Iterator[IO[Any]]:
    """``with atomic_write(path, "wb") as handle: ...`` -- ``path`` appears only when the block succeeds.

    ``durable=False`` skips the fsync: the rename still keeps a killed process from leaving a torn file, only a
    power cut may; for files whose reader rejects a torn one and can make them again (feature-cache entries),
    where an fsync per entry costs more than the extraction itself.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: the file gets the mode open() would give
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask, read without changing it (``/proc/self/status``; elsewhere set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def claim_output_folder(path: Path | str, force: bool = False, option: str = "--force") -> Path:
    """Make sure writing into ``path`` loses nothing of the user's (:func:`check_output_folder`), then create the
    folder and mark it as kelcore's."""
    path = check_output_folder(path, force, option)
    try:
        mark_output_folder(path)
    except OSError as exc:  # an unwritable place is bad input (exit 2), said in one line
        from .errors import describe_exception

        raise UsageError(f"{path}: cannot write there: {describe_exception(exc)}") from None
    return path


def check_output_folder(path: Path | str, force: bool = False, option: str = "--force") -> Path:
    """``path`` is new, empty, or holds kelcore's marker (:data:`OUTPUT_MARKER`, or a demo corpus's); otherwise
    :class:`ForeignFilesError` naming the first foreign file, unless ``force``. Writes nothing."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ForeignFilesError(f"{path}: exists and is not a folder; nothing was written")
    if not force and path.is_dir() and not any((path / name).is_file() for name in _OWNED_BY):
        foreign = sorted(p.name for p in path.iterdir())
        if foreign:
            raise ForeignFilesError(
                f"{path}: the folder holds files kelcore did not write (first: {path / foreign[0]}, "
                f"{len(foreign)} in all); nothing was written: choose a new or empty folder, or pass {option} "
                "to write into it anyway (files of the same name are replaced)")
    return path


def mark_output_folder(path: Path | str, text: str = "") -> Path:
    """Write ``path / OUTPUT_MARKER``: kelcore wrote into this folder and may write into it again."""
    marker = Path(path) / OUTPUT_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    if not marker.exists():
        marker.write_text(text or "written by kelcore: kelcore may write into this folder again\n", encoding="utf-8")
    return marker


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    with atomic_write(path, "w") as handle:
        handle.write(text)


def write_json_atomic(path: Path | str, data: Any) -> None:
    """Write JSON (indented, sorted keys) atomically."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def config_digest(config: Any) -> str:
    """A stable short hash of a JSON-able feature configuration."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
