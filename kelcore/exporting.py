"""Exporting, format-neutral: the one export loop (used by ``kelcore run`` and ``kelcore export``), and the core
commands ``kelcore export --format NAME`` and ``kelcore validate`` that dispatch to registered exporters."""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .components import Command, ExportContext, Exporter, ExportResult, SequenceModel
from .config import options_from_cli
from .errors import UsageError
from .plugins import INSTALL_HINT, get_registry
from .progress import on_terminal


@dataclass
class Exported:
    label: str
    exporter: str
    result: ExportResult


def export_path(out: Path, model: SequenceModel, exporter: Exporter, label: str | None = None) -> Path:
    """``<out>/<ModelSpec name><suffix>``: one file name for a model in a format, wherever it is exported; when one
    command exports several models of a spec, ``<out>/<ModelSpec name>-<label><suffix>`` (named after the job or
    model), so no file overwrites another."""
    stem = f"{model.spec_name}-{label}" if label else model.spec_name
    return Path(out) / f"{stem}{exporter.suffix}"


def export_models(jobs: Iterable[tuple[str, SequenceModel, ExportContext]],
                  exporters: dict[str, Exporter] | Callable[[str], dict[str, Exporter]],
                  out: Path, log: Any = None, before_writing: Callable[[], Any] | None = None) -> list[Exported]:
    """THE export loop: every (label, model, context) through every exporter into ``out`` (``exporters`` may be a
    function of the label: a job's own exporters and options).

    Files are named by :func:`export_path`, after the label too where several models share a spec; two exports
    to one path in one command are refused with a :class:`~kelcore.errors.UsageError` before anything is written
    (``before_writing`` is called once they are not, e.g. to claim a user-named folder)."""
    jobs = list(jobs)
    per_spec = Counter(model.spec_name for _, model, _ in jobs)
    taken: dict[Path, str] = {}
    planned = []
    for label, model, context in jobs:
        for name, exporter in (exporters(label) if callable(exporters) else exporters).items():
            path = export_path(out, model, exporter, label if per_spec[model.spec_name] > 1 else None)
            owner = f"{label} ({name})"
            if path in taken:
                raise UsageError(f"two exports to one path in one command: {owner} and {taken[path]} would both "
                                 f"write {path}; export them into different folders or with distinct job names")
            taken[path] = owner
            planned.append((label, model, context, name, exporter, path))
    if before_writing is not None:
        before_writing()
    done = []
    for label, model, context, name, exporter, path in planned:
        result = exporter.export(model, path, context)
        if log is not None:
            size = f"{path.stat().st_size / 1e6:.2f} MB, " if path.exists() else ""
            log(f"{label}: {path} ({size}max |file - PyTorch| = {result.max_abs_error:.2e})")
        done.append(Exported(label, name, result))
    return done


def no_exporter_message() -> str:
    return f"no exporter plugin is loaded (`kelcore plugins` lists what is): install one ({INSTALL_HINT})"


def choose_exporters(name: str | None, run_dir: Path | None = None) -> list[str]:
    """The exporters of ``kelcore export``: the ones ``--format`` names (``a,b``); else, for a run, the exporters
    its jobs used; else every installed exporter (all equals: the core prefers none)."""
    registry = get_registry()
    if name:
        names = [n.strip() for n in name.split(",") if n.strip()]
        for each in names:
            registry.get("exporters", each)  # an unknown name: the registry's error, with the installed names
        return names
    installed = registry.names("exporters")
    if not installed:
        raise UsageError(no_exporter_message())
    if run_dir is not None:
        used = [n for jobs in _run_jobs(run_dir).values() for n in (jobs.get("exporters") or [])]
        used = [n for n in dict.fromkeys(used) if n in installed]
        if used:
            return used
    return installed


def _items_per_exporter(items: list[str], classes: dict[str, type[Exporter]]) -> dict[str, list[str]]:
    """``-o KEY=VALUE`` items split among the chosen exporters by the options each has; a key none has (or an
    item without ``=``) goes to all of them, so the error names it."""
    split: dict[str, list[str]] = {name: [] for name in classes}
    for item in items:
        key = item.split("=", 1)[0].strip() if "=" in item else None
        owners = [n for n, cls in classes.items() if key in cls.Options.model_fields] or list(classes)
        for name in owners:
            split[name].append(item)
    return split


def _run_jobs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Each job's resolved section of a run (run.json), or {} when the run has none."""
    try:
        info = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    jobs = (info.get("resolved") or {}).get("jobs") or {}
    return {job: section for job, section in jobs.items() if isinstance(section, dict)}


class ExportCommand(Command):
    help = ("export models with the installed exporters (--format NAME to choose), from a run directory or "
            "untrained straight from their plugins")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", nargs="?", type=Path, help="a run directory of `kelcore run`")
        parser.add_argument("--format", "-f", dest="format", metavar="NAME",
                            help="exporter name(s), a,b (see `kelcore list exporters`; default: for a run the exporters its "
                                 "jobs used, else every installed exporter)")
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
        names = choose_exporters(args.format, None if args.untrained else args.run_dir)
        registry = get_registry()
        classes = {name: registry.get("exporters", name).obj for name in names}
        items = _items_per_exporter(args.option, classes)
        out = args.out or args.run_dir / "exports"
        claim = None
        if args.out is not None:  # a user-named folder: nothing of the user's is overwritten
            from .io import check_output_folder, claim_output_folder

            check_output_folder(out, force=args.force)  # said before any model is loaded

            def claim() -> None:  # marked only once the exports are known not to collide
                claim_output_folder(out, force=args.force)
        if args.untrained:
            exporters = {name: cls(options_from_cli(cls, items[name], f"kelcore export ({name})"))
                         for name, cls in classes.items()}
            results = export_models(self._untrained(args), exporters, out, print, claim)
        else:
            jobs = _run_jobs(args.run_dir)

            def exporters_of(job: str) -> dict[str, Exporter]:
                configured = jobs.get(job, {}).get("exporter_options") or {}
                return {name: cls(options_from_cli(cls, items[name], f"kelcore export ({name}, job {job})",
                                                   configured.get(name) or {})) for name, cls in classes.items()}

            results = export_models(self._trained(args), exporters_of, out, print, claim)
        for name, cls in classes.items():
            finisher = cls(options_from_cli(cls, items[name], f"kelcore export ({name})"))
            extra = finisher.finish(out, [r.result for r in results if r.exporter == name], args)
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
                yield trained.job, trained.model, trained.context


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
        checks, formats = [], []
        for index, path in enumerate(args.files):
            if on_terminal():
                print(f"\rvalidating {index + 1}/{len(args.files)}: {path}", end="", file=sys.stderr)
            validator = self._validator(path, args.format)
            formats.append(next((n for n, c in get_registry().components["exporters"].items()
                                 if c.obj is validator), validator.__name__))
            checks.append(validator.check_file(path, check_specs=args.check_specs))
        if on_terminal():
            print(file=sys.stderr)
        if args.json:
            # the exporter's own record, with what every record holds added by the core
            print(json.dumps([{**c.data, "path": str(c.path), "status": c.status, "problems": list(c.problems),
                               "format": fmt} for c, fmt in zip(checks, formats)], indent=2))
        else:
            for check in checks:
                if check.status == 0:
                    print(f"{check.path}: {check.summary}")
                for problem in check.problems:
                    print(problem)
        return max(c.status for c in checks)
