"""Exporting, format-neutral: the one export loop (used by ``kelcore run`` and ``kelcore export``), and the core
commands ``kelcore export --format NAME`` and ``kelcore validate`` that dispatch to registered exporters."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .components import Command, ExportContext, Exporter, ExportResult, SequenceModel
from .errors import UsageError
from .plugins import INSTALL_HINT, get_registry
from .progress import on_terminal


@dataclass
class Exported:
    label: str
    exporter: str
    result: ExportResult


def export_path(out: Path, model: SequenceModel, exporter: Exporter) -> Path:
    """``<out>/<ModelSpec name><suffix>``: one file name for a model in a format, wherever it is exported."""
    return Path(out) / f"{model.spec_name}{exporter.suffix}"


def export_models(jobs: Iterable[tuple[str, SequenceModel, ExportContext]], exporters: dict[str, Exporter],
                  out: Path, log: Any = None) -> list[Exported]:
    """THE export loop: every (label, model, context) through every exporter into ``out``."""
    done = []
    for label, model, context in jobs:
        for name, exporter in exporters.items():
            path = export_path(out, model, exporter)
            result = exporter.export(model, path, context)
            if log is not None:
                size = f"{path.stat().st_size / 1e6:.2f} MB, " if path.exists() else ""
                log(f"{label}: {path} ({size}max |file - PyTorch| = {result.max_abs_error:.2e})")
            done.append(Exported(label, name, result))
    return done


def no_exporter_message() -> str:
    return f"no exporter plugin is loaded (`kelcore plugins` lists what is): install one ({INSTALL_HINT})"


def choose_exporter(name: str | None) -> tuple[str, type[Exporter]]:
    """The exporter ``--format NAME`` names, or the only one installed."""
    registry = get_registry()
    names = registry.names("exporters")
    if name:
        return name, registry.get("exporters", name).obj
    if not names:
        raise UsageError(no_exporter_message())
    if len(names) > 1:
        raise UsageError(f"several exporters are installed ({', '.join(names)}): choose one with --format NAME")
    return names[0], registry.components["exporters"][names[0]].obj


def _options(text: list[str]) -> dict[str, Any]:
    import tomllib

    values = {}
    for item in text:
        if "=" not in item:
            raise UsageError(f"--option {item}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        try:
            values[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            values[key.strip()] = value.strip()
    return values


class ExportCommand(Command):
    help = ("export models with an installed exporter (--format NAME), from a run directory or untrained "
            "straight from their plugins")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", nargs="?", type=Path, help="a run directory of `kelcore run`")
        parser.add_argument("--format", "-f", dest="format", metavar="NAME",
                            help="exporter name (see `kelcore list exporters`; default: the only one installed)")
        parser.add_argument("--untrained", action="store_true", help="export every registered model untrained")
        parser.add_argument("--seed", type=int, default=0, help="weight seed for --untrained (default 0)")
        parser.add_argument("--models", help="comma-separated model or job names (default: all)")
        parser.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/exports); one that holds "
                            "files kelcore did not write is refused unless --force")
        parser.add_argument("--force", action="store_true",
                            help="write into an --out folder that holds files kelcore did not write")
        parser.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                            help="exporter option (repeatable); for a run, the job's exporter_options apply first")
        for name, component in sorted(get_registry().components["exporters"].items()):
            group = parser.add_argument_group(f"{name} exporter ({component.distribution})")
            try:
                component.obj.add_arguments(group)
            except argparse.ArgumentError:
                pass  # an option another exporter already added

    def run(self, args: argparse.Namespace) -> int:
        if args.untrained == bool(args.run_dir):
            print("kelcore export: give a RUN_DIR or --untrained (not both)", file=sys.stderr)
            return 2
        if args.untrained and args.out is None:
            print("kelcore export: --untrained needs --out DIR", file=sys.stderr)
            return 2
        if args.run_dir and not args.run_dir.is_dir():
            raise UsageError(f"{args.run_dir}: no such run directory")
        name, cls = choose_exporter(args.format)
        cli_options = _options(args.option)
        out = args.out or args.run_dir / "exports"
        if args.out is not None:  # a user-named folder: nothing of the user's is overwritten
            from .io import claim_output_folder

            claim_output_folder(out, force=args.force)
        results = []
        if args.untrained:
            exporter = cls(cls.Options(**cli_options))
            results = export_models(self._untrained(args), {name: exporter}, out, print)
        else:
            configured = self._job_exporter_options(args.run_dir, name)
            for job, options_for_job in self._trained(args):
                exporter = cls(cls.Options(**{**configured.get(job[0], {}), **cli_options}))
                results += export_models([job], {name: exporter}, out, print)
            exporter = cls(cls.Options(**cli_options))
        extra = exporter.finish(out, [r.result for r in results], args)
        if extra:
            print(f"also written: {', '.join(p.name for p in extra)} in {out}")
        return 0

    @staticmethod
    def _untrained(args: argparse.Namespace):
        from .runs import build_model

        registry = get_registry()
        names = args.models.split(",") if args.models else registry.names("models")
        for name in names:
            cls = registry.get("models", name).obj
            model = build_model(cls, None, seed=args.seed)
            size = len(model.feature_contract().inputs)
            identity = {"mean": [0.0] * size, "std": [1.0] * size}
            yield name, model, ExportContext(normalization=identity, run_id="untrained", seed=args.seed)

    @staticmethod
    def _trained(args: argparse.Namespace):
        from .runs import load_trained

        wanted = set(args.models.split(",")) if args.models else None
        try:
            trained_models = load_trained(args.run_dir)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
        for trained in trained_models:
            if wanted is None or trained.model_name in wanted or trained.job in wanted:
                yield (trained.job, trained.model, trained.context), None

    @staticmethod
    def _job_exporter_options(run_dir: Path, exporter: str) -> dict[str, dict[str, Any]]:
        """Each job's ``exporter_options[exporter]`` from the run's resolved pipeline (run.json)."""
        try:
            info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        jobs = (info.get("resolved") or {}).get("jobs") or {}
        return {job: (section.get("exporter_options") or {}).get(exporter, {}) for job, section in jobs.items()
                if isinstance(section, dict)}


class ValidateCommand(Command):
    help = "check exported files with their exporter's validator (exit 0 valid, 1 invalid, 2 unreadable)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
        parser.add_argument("--format", "-f", dest="format", metavar="NAME",
                            help="exporter whose validator to use (default: chosen by each file's suffix)")
        parser.add_argument("--check-specs", action="store_true", help="also check against the C++ ModelSpec")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    @staticmethod
    def _validator(path: Path, name: str | None) -> type[Exporter]:
        registry = get_registry()
        if name:
            cls = registry.get("exporters", name).obj
            if not cls.can_check_files():
                raise UsageError(f"exporter {name!r} has no file validator")
            return cls
        candidates = [(len(c.obj.suffix), n, c.obj) for n, c in registry.components["exporters"].items()
                      if c.obj.can_check_files() and path.name.endswith(c.obj.suffix)]
        if not candidates:
            if not registry.components["exporters"]:
                raise UsageError(no_exporter_message())
            raise UsageError(f"{path}: no installed exporter validates *{path.suffix} files "
                             f"(installed: {', '.join(registry.names('exporters'))}); use --format NAME")
        return max(candidates, key=lambda c: c[:2])[2]

    def run(self, args: argparse.Namespace) -> int:
        checks = []
        for index, path in enumerate(args.files):
            if on_terminal():
                print(f"\rvalidating {index + 1}/{len(args.files)}: {path}", end="", file=sys.stderr)
            checks.append(self._validator(path, args.format).check_file(path, check_specs=args.check_specs))
        if on_terminal():
            print(file=sys.stderr)
        if args.json:
            print(json.dumps([c.data or {"path": str(c.path), "status": c.status, "problems": c.problems}
                              for c in checks], indent=2))
        else:
            for check in checks:
                if check.status == 0:
                    print(f"{check.path}: {check.summary}")
                for problem in check.problems:
                    print(problem)
        return max(c.status for c in checks)
