"""kelcore's errors and exit codes: 0 success, 1 the work failed, 2 bad input.

Messages stand on their own: the command line prints ``kelcore COMMAND: message`` and never an exception class
name (``KELCORE_DEBUG=1`` shows the traceback).
"""
from __future__ import annotations

__all__ = ["KelcoreError", "UsageError", "WorkError", "describe_exception"]


class KelcoreError(Exception):
    """Base of kelcore's own errors; ``exit_code`` is what the command line returns."""

    exit_code = 1


class UsageError(KelcoreError):
    """Bad input: a missing folder, a bad ``--resume`` path, an unknown name (exit 2)."""

    exit_code = 2


class WorkError(KelcoreError):
    """The work itself failed (exit 1)."""

    exit_code = 1


def describe_exception(exc: BaseException) -> str:
    """A one-line message for a person, without the exception class name where the message says enough."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror[:1].lower()}{exc.strerror[1:]}"
    text = str(exc).strip()
    if isinstance(exc, KeyError) and text:
        return f"missing key {text}"
    if not text:
        return f"unexpected {type(exc).__name__} (run with KELCORE_DEBUG=1 for the traceback)"
    return text
