"""Progress for long work: a tqdm bar (rate and ETA) on a terminal, silence otherwise.

``Progress``, ``track`` and ``on_terminal`` are the public names plugins use; they
wrap `tqdm <https://tqdm.github.io>`_.
"""
from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def on_terminal() -> bool:
    """True when stderr is an interactive terminal (progress bars are shown)."""
    return sys.stderr.isatty()


class Progress:
    """A progress bar on stderr with rate and ETA; a no-op unless ``enabled`` (default: on a terminal)."""

    def __init__(self, total: int | None, desc: str, enabled: bool | None = None) -> None:
        self.total = total
        self.desc = desc
        self.enabled = on_terminal() if enabled is None else enabled
        self.count = 0
        self.postfix = ""
        self._bar = tqdm(total=total, desc=desc, file=sys.stderr, disable=not self.enabled, leave=True,
                         dynamic_ncols=True, mininterval=0.1)

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.count += n
        if postfix is not None and postfix != self.postfix:
            self.postfix = postfix
            self._bar.set_postfix_str(postfix, refresh=False)
        if n:
            self._bar.update(n)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def track(items: Iterable[T], desc: str, total: int | None = None, enabled: bool | None = None) -> Iterator[T]:
    """Iterate with a progress bar (on a terminal only)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(total, desc, enabled) as bar:
        for item in items:
            yield item
            bar.update()
