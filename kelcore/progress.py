"""Progress for long work: a bar on a terminal, silence otherwise."""
from __future__ import annotations

import sys
import time
from typing import Iterable, Iterator, TypeVar

T = TypeVar("T")


def on_terminal() -> bool:
    """True when stderr is an interactive terminal (progress bars are shown)."""
    return sys.stderr.isatty()


class Progress:
    """A minimal progress bar on stderr; a no-op unless ``enabled``."""

    def __init__(self, total: int | None, desc: str, enabled: bool | None = None) -> None:
        self.total = total
        self.desc = desc
        self.enabled = on_terminal() if enabled is None else enabled
        self.count = 0
        self.postfix = ""
        self._start = time.monotonic()
        self._last_draw = 0.0

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.count += n
        if postfix is not None:
            self.postfix = postfix
        now = time.monotonic()
        if self.enabled and (now - self._last_draw > 0.1 or self.count == self.total):
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._start, 1e-9)
        rate = self.count / elapsed
        if self.total:
            frac = min(self.count / self.total, 1.0)
            bar = "#" * int(frac * 24)
            eta = (self.total - self.count) / rate if rate > 0 else 0.0
            text = f"{self.desc}: [{bar:<24}] {self.count}/{self.total} {rate:.1f}/s eta {eta:.0f}s"
        else:
            text = f"{self.desc}: {self.count} {rate:.1f}/s"
        if self.postfix:
            text += f" {self.postfix}"
        sys.stderr.write("\r" + text[:160].ljust(80))
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            sys.stderr.write("\n")
            sys.stderr.flush()

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
