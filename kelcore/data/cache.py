"""The feature cache: extracted features on disk, keyed by file content + feature configuration."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..io import atomic_write, config_digest


MAGIC = b"KELFC01\n"
SUFFIX = ".kfc"
_PLAIN_KINDS = "biufcSU"   # bool, integers, floats, complex, bytes, str: never objects


def write_entry(handle: IO[bytes], meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    """One entry: ``MAGIC``, the JSON header's length (u32 LE), the JSON header (the meta, and each array's name,
    dtype, shape, offset), then the arrays' raw bytes. Read back with one read and no parser but JSON."""
    table, offset = [], 0
    for name, array in arrays.items():
        table.append([name, array.dtype.str, list(array.shape), offset, array.nbytes])
        offset += array.nbytes
    header = json.dumps({"meta": meta, "arrays": table}).encode()
    handle.write(MAGIC + len(header).to_bytes(4, "little") + header)
    for array in arrays.values():
        handle.write(np.ascontiguousarray(array).tobytes())


def read_entry(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of an entry; ValueError for anything that is not a complete entry of plain arrays."""
    data = bytearray(path.stat().st_size)
    with open(path, "rb") as handle:
        if handle.readinto(data) != len(data) or not data.startswith(MAGIC):
            raise ValueError("not a kelcore feature-cache entry")
    start = len(MAGIC) + 4
    size = int.from_bytes(data[len(MAGIC):start], "little")
    header = json.loads(bytes(data[start:start + size]))
    base, arrays = start + size, {}
    for name, dtype, shape, offset, nbytes in header["arrays"]:
        kind = np.dtype(dtype)
        if kind.hasobject or kind.kind not in _PLAIN_KINDS:
            raise ValueError(f"array {name!r} of dtype {dtype}, not a plain one")
        if nbytes != int(np.prod(shape, dtype=np.int64)) * kind.itemsize or base + offset + nbytes > len(data):
            raise ValueError(f"array {name!r} does not fit the file (torn or truncated)")
        arrays[name] = np.frombuffer(data, kind, nbytes // max(kind.itemsize, 1), base + offset).reshape(shape)
    if base + sum(entry[4] for entry in header["arrays"]) != len(data):
        raise ValueError("the file's length does not match its header (torn or truncated)")
    return header["meta"], arrays


class UnsafeCacheEntry(UserWarning):
    """A feature-cache entry was not a plain array file (e.g. a planted pickle); it was ignored."""


class FeatureCache:
    """On-disk cache of extracted features keyed by file content + feature config.

    An entry is one ``.kfc`` file (:func:`write_entry`): a JSON header (the kind and reason of a skipped
    track, each array's dtype and shape) and the arrays' raw bytes, read with JSON and ``np.frombuffer``
    alone and only for plain dtypes, so nothing in a cache folder can run code. (It replaced ``.npz``,
    whose zip members and per-array header parsing were most of a warm preparation: old entries are
    simply misses.) It holds an :class:`Extracted` or a ``dict`` of arrays. Entries are written
    atomically (temp file + rename), so a killed run never leaves a half-written entry; an
    unreadable or refused entry is a miss (with an :class:`UnsafeCacheEntry` warning) and is
    re-extracted over.
    """

    META = "__meta__"   # a reserved array name (the .npz format kept the meta there)

    def __init__(self, directory: Path, config: Any) -> None:
        self.directory = Path(directory) / config_digest(config)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, content_key: str) -> Path:
        return self.directory / content_key[:2] / f"{content_key}{SUFFIX}"

    def get(self, content_key: str) -> Any | None:
        path = self._path(content_key)
        if not path.exists():
            return None
        try:
            meta, arrays = read_entry(path)
            return self._decode(meta, arrays)
        except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:
            import warnings

            warnings.warn(UnsafeCacheEntry(
                f"{path}: refused feature-cache entry: not a plain array file ({str(exc) or type(exc).__name__}); "
                f"nothing from it was run, the track is extracted again"), stacklevel=2)
            return None

    @staticmethod
    def _decode(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Any:
        if meta.get("type") == "Extracted":
            return _extracted()(inputs=arrays.get("inputs"), targets=arrays.get("targets"),
                             kind=str(meta.get("kind", "")), reason=str(meta.get("reason", "")))
        if meta.get("type") == "arrays":
            return arrays
        raise ValueError(f"unknown entry type {meta.get('type')!r}")

    def put(self, content_key: str, value: Any) -> None:
        if isinstance(value, _extracted()):
            arrays = {name: np.asarray(array) for name, array in (("inputs", value.inputs), ("targets", value.targets))
                      if array is not None}
            meta = {"type": "Extracted", "kind": value.kind, "reason": value.reason}
        elif isinstance(value, dict) and all(isinstance(k, str) and k != self.META for k in value):
            arrays = {k: np.asarray(v) for k, v in value.items()}
            meta = {"type": "arrays"}
        else:
            raise TypeError(f"FeatureCache stores an Extracted or a dict of arrays, not {type(value).__name__}")
        if any(a.dtype == object for a in arrays.values()):
            raise TypeError("FeatureCache stores numeric/string arrays only (object arrays would need pickle)")
        path = self._path(content_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # no fsync per entry (it cost more than the extraction): a torn entry after a power cut is refused on
        # read and extracted again
        with atomic_write(path, "wb", durable=False) as handle:
            write_entry(handle, meta, arrays)




def _extracted():
    from .indexed import Extracted

    return Extracted


def provider_of_class(cls: type) -> dict[str, str]:
    """``{"name", "version"}`` of the installed distribution that provides ``cls`` (kelcore.plugins.provider_of)."""
    from ..plugins import provider_of

    return provider_of(cls)


def code_digest(function: Any) -> str:
    """sha256 (16 hex digits) of the source of the module that defines ``function``: an edited extractor module
    changes the key even before its distribution's version is bumped (an editable install, say)."""
    import hashlib
    import inspect

    try:
        source = inspect.getsource(inspect.getmodule(function))  # type: ignore[arg-type]
    except (OSError, TypeError):
        source = getattr(function, "__qualname__", repr(function))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def feature_cache_key(dataset: Any, extract: Any) -> dict[str, Any]:
    """What a dataset's feature-cache entries are keyed by, besides each file's content: the contract (model and
    version) it produces, the distribution that provides the dataset (name and version), the extractor module's
    code digest and the dataset's own ``feature_config()``. Change any of them and every entry is a miss: changed
    plugin code never serves stale features."""
    try:
        version = dataset.contract().version
    except (LookupError, AttributeError):
        version = "unknown"
    return {"contract": {"model": dataset.produces, "version": version},
            "distribution": provider_of_class(type(dataset)), "code": code_digest(extract),
            "feature_config": dataset.feature_config()}


def default_cache_dir() -> Path:
    """``$KELCORE_CACHE_DIR`` or ``~/.cache/kelcore``."""
    return Path(os.environ.get("KELCORE_CACHE_DIR") or Path.home() / ".cache" / "kelcore")


def cache_dir_of(options: Any) -> Path:
    """The cache folder a dataset's options ask for (``cache_dir`` or the default)."""
    return Path(options.cache_dir) if getattr(options, "cache_dir", None) else default_cache_dir()
