"""The feature cache: extracted features on disk, keyed by file content + feature configuration."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..io import atomic_write, config_digest


class UnsafeCacheEntry(UserWarning):
    """A feature-cache entry was not a plain array file (e.g. a planted pickle); it was ignored."""


class FeatureCache:
    """On-disk cache of extracted features keyed by file content + feature config.

    An entry is one ``.npz`` file read with ``allow_pickle=False``: the arrays plus a small JSON
    (``__meta__``) with the kind and reason of a skipped track, so nothing in a cache folder can
    run code. It holds an :class:`Extracted` or a ``dict`` of arrays. Entries are written
    atomically (temp file + rename), so a killed run never leaves a half-written entry; an
    unreadable or refused entry is a miss (with an :class:`UnsafeCacheEntry` warning) and is
    re-extracted over.
    """

    META = "__meta__"

    def __init__(self, directory: Path, config: Any) -> None:
        self.directory = Path(directory) / config_digest(config)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, content_key: str) -> Path:
        return self.directory / content_key[:2] / f"{content_key}.npz"

    def get(self, content_key: str) -> Any | None:
        path = self._path(content_key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
            meta = json.loads(str(arrays.pop(self.META)))
            return self._decode(meta, arrays)
        except (OSError, ValueError, KeyError, EOFError, TypeError) as exc:
            import warnings

            why = ("it holds pickled Python objects, which the cache never loads" if "pickle" in str(exc)
                   else str(exc) or type(exc).__name__)
            warnings.warn(UnsafeCacheEntry(
                f"{path}: refused feature-cache entry: not a plain array file ({why}); nothing from it was run, "
                f"the track is extracted again"), stacklevel=2)
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
            np.savez(handle, **arrays, **{self.META: np.array(json.dumps(meta))})




def _extracted():
    from .indexed import Extracted

    return Extracted


def default_cache_dir() -> Path:
    """``$KELCORE_CACHE_DIR`` or ``~/.cache/kelcore``."""
    return Path(os.environ.get("KELCORE_CACHE_DIR") or Path.home() / ".cache" / "kelcore")


def cache_dir_of(options: Any) -> Path:
    """The cache folder a dataset's options ask for (``cache_dir`` or the default)."""
    return Path(options.cache_dir) if getattr(options, "cache_dir", None) else default_cache_dir()
