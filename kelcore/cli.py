"""``kelcore`` command line: sub-commands come from the registry (core and plugins alike).

Exit codes: 0 success, 1 the work failed (training, export, ...), 2 bad input
(config, arguments, unknown names). Set ``KELCORE_DEBUG=1`` for tracebacks.
"""
from __future__ import annotations

import argparse
import os
import sys

from pydantic import ValidationError

from .config import ConfigError
from .errors import KelcoreError, describe_exception
from .plugins import PluginError, UnknownComponentError, get_registry


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="kelcore", description="Train, export and prove the networks a real-time music plugin runs.")
    parser.add_argument("--version", action="version", version=f"kelcore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands = get_registry().components["commands"]
    for name in sorted(commands):
        command = commands[name].obj
        child = sub.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(child)
        child.set_defaults(_command=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except PluginError as exc:  # strict mode, or a broken built-in
        print(f"kelcore: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        code = int(args._command.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below, not at interpreter exit
        return code
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KelcoreError as exc:
        print(f"kelcore {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (UnknownComponentError, ValidationError, PluginError) as exc:
        print(f"kelcore {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("kelcore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader left (`kelcore plugins --json | head`): nothing more to say
        _quiet_stdout()
        return 0
    except Exception as exc:  # noqa: BLE001 - a clear one-line error, traceback on request
        if os.environ.get("KELCORE_DEBUG"):
            raise
        print(f"kelcore {args.command}: error: {describe_exception(exc)}", file=sys.stderr)
        return 1


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit into a closed pipe raises nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
