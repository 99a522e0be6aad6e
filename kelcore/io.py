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

__all__ = ["atomic_write", "write_text_atomic", "write_json_atomic", "file_digest", "config_digest"]


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
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
