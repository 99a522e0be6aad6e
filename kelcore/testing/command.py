"""``kelcore check PLUGIN [--json]``: the conformance suites from the command line."""
from __future__ import annotations

import json
import sys
from typing import Any

from ..components import Command
from ..hookspecs import hookimpl
from ..plugins import UnknownComponentError, get_registry
from .runner import CheckResult, components_of_plugin, run_all


def registration_results(name: str, found: dict[str, dict[str, type]]) -> list[CheckResult]:
    """A FAIL for every name registered twice that concerns ``name`` (its components, or its distribution)."""
    registry = get_registry()
    plugins = {p.distribution for p in registry.plugins if name in (p.name, p.distribution)}
    results = []
    for (kind, component), message in sorted(registry.conflicts.items()):
        mine = component in found.get(kind, {}) or component == name or any(d in message for d in plugins)
        if mine:
            results.append(CheckResult(f"{kind[:-1]} {component!r}", "registered once", "FAIL", message, kind))
    return results


def nothing_checked(results: list[CheckResult]) -> str:
    """The reason, when no check of a run passed or failed (every one skipped): a suite that checked nothing
    proves nothing, so ``kelcore check`` exits 1 with it. Empty when something was checked."""
    if any(r.status in ("PASS", "FAIL") for r in results):
        return ""
    reasons = sorted({r.message for r in results if r.message})
    return ("nothing was checked: every check skipped (" + "; ".join(reasons) + ")" if reasons
            else "nothing was checked: no check ran")


class CheckCommand(Command):
    help = "run the conformance suites on a plugin's models, datasets and exporters (exit 1 on any failure)"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("plugin", help="component name, plugin entry point or distribution, e.g. groove")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: Any) -> int:
        try:
            found = components_of_plugin(args.plugin)
        except UnknownComponentError as exc:
            print(f"kelcore check: {exc}", file=sys.stderr)
            return 2
        results = registration_results(args.plugin, found)
        for kind, components in found.items():
            results += run_all(list(components.values()), kind)
        failed = [r for r in results if r.status == "FAIL"]
        nothing = nothing_checked(results)
        if args.json:
            print(json.dumps({"plugin": args.plugin, "passed": not failed and not nothing, "nothing_checked": nothing,
                              "results": [r.__dict__ for r in results]}, indent=2))
        else:
            width = max(len(r.check) for r in results)
            name_width = max(len(r.model) for r in results)
            for r in results:
                print(f"{r.model:<{name_width}} {r.check:<{width}} {r.status:<4} {r.message}".rstrip())
            counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
            print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
        if nothing:
            print(f"kelcore check: {nothing}", file=sys.stderr)
        return 1 if failed or nothing else 0


@hookimpl
def kelcore_register_commands(register) -> None:
    register("check", CheckCommand())
