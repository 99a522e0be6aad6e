"""``kelcore check PLUGIN [--json]``: the conformance suite from the command line."""
from __future__ import annotations

import json
import sys
from typing import Any

from ..api import Command
from ..hookspecs import hookimpl
from ..plugins import UnknownComponentError
from .runner import models_of_plugin, run_all


class CheckCommand(Command):
    help = "run the conformance suite on a model plugin (exit 1 on any failure)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("plugin", help="model name, plugin entry point or distribution, e.g. groove")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: Any) -> int:
        try:
            models = models_of_plugin(args.plugin)
        except UnknownComponentError as exc:
            print(f"kelcore check: {exc}", file=sys.stderr)
            return 2
        results = run_all(list(models.values()))
        failed = [r for r in results if r.status == "FAIL"]
        if args.json:
            print(json.dumps({"plugin": args.plugin, "passed": not failed,
                              "results": [r.__dict__ for r in results]}, indent=2))
        else:
            width = max(len(r.check) for r in results)
            for r in results:
                print(f"{r.model:<18} {r.check:<{width}} {r.status:<4} {r.message}".rstrip())
            counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
            print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
        return 1 if failed else 0


@hookimpl
def kelcore_register_commands(register) -> None:
    register("check", CheckCommand())
