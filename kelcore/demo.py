"""Demo corpora: the marker a demo folder holds, how ``write_demo`` leaves it, and what a run reports its data as."""
from __future__ import annotations

from pathlib import Path
from typing import Any

#: The file every demo corpus's root holds (written by ``kelcore data demo`` and every ``write_demo``): a run on
#: that root reports its data as :data:`SYNTHETIC_DEMO` unless the dataset says otherwise (``provenance()``).
DEMO_MARKER = ".kelcore-demo"
SYNTHETIC_DEMO = "synthetic demo corpus"


def mark_demo(path: Path, text: str = "") -> Path:
    """Write ``path / DEMO_MARKER`` (``path`` is a demo corpus's root): runs on it report synthetic data."""
    marker = Path(path) / DEMO_MARKER
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(text or "kelcore demo corpus: synthetic (written by write_demo / kelcore data demo)\n",
                      encoding="utf-8")
    return marker


def marking_demo(write_demo: Any) -> Any:
    """``write_demo`` wrapped to leave a :data:`DEMO_MARKER` in the folder it wrote (unless the class is ``real``):
    :meth:`Dataset.__init_subclass__ <kelcore.bases.Dataset.__init_subclass__>` applies it to every subclass's own
    ``write_demo`` at class creation, so a demo is marked however it is called."""
    import functools

    @functools.wraps(write_demo)
    def wrapper(cls: Any, path: Path, *args: Any, **kwargs: Any) -> Any:
        result = write_demo(cls, path, *args, **kwargs)
        if not getattr(cls, "real", False):
            mark_demo(path, f"kelcore demo corpus written by {cls.__name__}.write_demo: synthetic\n")
        return result

    wrapper._marks_demo = True  # type: ignore[attr-defined]
    return wrapper


def provenance_of(dataset: Any) -> str:
    """``dataset.provenance()`` (the base class's marker rule for any :class:`Dataset`); for an object without
    one, the same rule on its ``options.root``; never raises (the report must not fail a run)."""
    try:
        method = getattr(dataset, "provenance", None)
        if callable(method):
            return str(method())
        from .bases import Dataset

        return Dataset.provenance(dataset)
    except Exception as exc:  # noqa: BLE001
        return f"unknown ({type(exc).__name__}: {exc})"
