"""The core's own sub-commands, registered through the same hook plugins use."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from .components import Command
from .config import load_pipeline
from .hookspecs import hookimpl
from .plugins import KINDS, UnknownComponentError, get_registry
from .progress import on_terminal


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _add_override_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override a value of the file, validated like it, e.g. "
                             "--set jobs.melody.trainer_options.epochs=5 (repeatable)")
    parser.add_argument("--only", action="append", default=[], metavar="JOB",
                        help="run only this job (repeatable); the others are still checked")
    parser.add_argument("--device", metavar="NAME",
                        help="train every job on NAME (cpu, cuda, cuda:N, mps, auto): sets trainer_options.device "
                             "of each job whose trainer has that option (recorded like --set)")


def with_device(args: argparse.Namespace) -> list[str]:
    """``--set`` plus, for ``--device NAME``, ``jobs.<job>.trainer_options.device=NAME`` for every job whose
    trainer takes a device."""
    from .errors import UsageError

    if not getattr(args, "device", None):
        return list(args.overrides)
    probe = load_pipeline(args.pipeline, overrides=args.overrides)
    jobs = [job.name for job in probe.jobs if "device" in getattr(type(job.trainer), "Options").model_fields]
    if not jobs:
        raise UsageError(f"--device {args.device}: no job's trainer takes a device option")
    return [*args.overrides, *(f"jobs.{name}.trainer_options.device={args.device}" for name in jobs)]


class RunCommand(Command):
    help = "train, evaluate and export every job of a pipeline file"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pipeline", type=Path, help="pipeline TOML file")
        parser.add_argument("--resume", type=Path, metavar="RUN_DIR",
                            help="continue an interrupted run in RUN_DIR where it stopped (with the same --set)")
        _add_override_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from .pipeline import (check_datasets, check_resumable, execute, failed, new_run_dir, read_run_info,
                               resume_arguments, resume_command, summary)
        from .training.default import Interrupted

        overrides, only = with_device(args), args.only
        if args.resume:  # the run's own --set and --only (run.json), not this command line's
            info = read_run_info(args.resume)
            overrides, only = resume_arguments(info, overrides, args.only)
        pipeline = load_pipeline(args.pipeline, overrides=overrides, only=only)
        check_datasets(pipeline)
        if args.resume:
            check_resumable(pipeline, args.resume)
            run_dir = args.resume
            print(f"resuming {run_dir}: jobs {', '.join(j.name for j in pipeline.jobs)}"
                  + "".join(f" --set {o}" for o in overrides) + " (as the run was started; see its run.json)",
                  file=sys.stderr)
        else:
            run_dir = new_run_dir(pipeline, only=args.only)
        print(f"run directory: {run_dir}", file=sys.stderr)
        try:
            records = execute(pipeline, run_dir, resume=bool(args.resume))
        except Interrupted as stop:
            info = read_run_info(run_dir)
            print(f"{stop}\nresume with: {resume_command(args.pipeline, run_dir, info)}", file=sys.stderr)
            return 130
        print(summary(records))
        print(f"report: {run_dir / 'report.md'} (data: {run_dir / 'report.json'})")
        problems = failed(records)
        if problems:
            print(f"{len(problems)} of {len(records)} job(s) did not finish: "
                  + ", ".join(f"{rec['job']} ({rec['status']})" for rec in problems)
                  + f"; fix and resume with: {resume_command(args.pipeline, run_dir, read_run_info(run_dir))}",
                  file=sys.stderr)
            return 1
        return 0


class SpecCommand(Command):
    help = "the C++ ModelSpecs: sizes and parameter counts, or where the installed ModelSpec.h is (--path)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", nargs="?", help="one ModelSpec (default: all)")
        parser.add_argument("--path", action="store_true", help="print the path of the installed ModelSpec.h")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: argparse.Namespace) -> int:
        from .spec import get_spec, header_path, load_specs

        if args.path:
            print(header_path())
            return 0
        specs = [get_spec(args.name)] if args.name else list(load_specs().values())
        if args.json:
            _print_json([dataclasses.asdict(spec) for spec in specs])
            return 0
        for spec in specs:
            print(f"{spec.name:<20} inputs {spec.input_size:>4}  outputs {spec.output_size:>4}  "
                  f"parameters {spec.param_count:>9,}")
        return 0


class CheckConfigCommand(Command):
    help = "validate a pipeline file without running anything"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("pipeline", type=Path, help="pipeline TOML file")
        _add_override_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        from .pipeline import check_datasets

        pipeline = load_pipeline(args.pipeline, overrides=with_device(args), only=args.only)
        check_datasets(pipeline)
        jobs = ", ".join(f"{j.name} ({j.model_name} <- {j.dataset_name})" for j in pipeline.jobs)
        print(f"{args.pipeline}: OK, {len(pipeline.jobs)} job(s): {jobs}")
        return 0


class PluginsCommand(Command):
    help = "list installed plugins: distribution, version, hooks, components, load errors"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: argparse.Namespace) -> int:
        plugins = get_registry().plugins
        if args.json:
            _print_json([p.to_json() for p in plugins])
            return 0
        for p in plugins:
            print(f"{p.distribution} {p.version}  [{p.name} -> {p.module}]")
            if p.hooks:
                print(f"  hooks: {', '.join(p.hooks)}")
            for kind, names in sorted(p.components.items()):
                print(f"  {kind}: {', '.join(names)}")
            if p.error:
                for line in p.error.splitlines():
                    print(f"  LOAD ERROR: {line}")
        return 0


def describe_options(cls: Any) -> list[dict[str, Any]]:
    """Each option of a component: name, type, default (or required), description."""
    fields = []
    for name, info in cls.Options.model_fields.items():
        annotation = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
        fields.append({
            "name": name, "type": annotation, "required": info.is_required(),
            "default": None if info.is_required() else info.get_default(call_default_factory=True),
            "description": info.description or "",
        })
    return fields


class ListCommand(Command):
    help = "list registered components of one kind with their options"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("kind", choices=[k for k in KINDS if k != "commands"])
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: argparse.Namespace) -> int:
        registry = get_registry()
        rows = []
        for name in registry.names(args.kind):
            component = registry.get(args.kind, name)
            rows.append({"name": name, "distribution": component.distribution, "version": component.version,
                         "class": f"{component.obj.__module__}.{component.obj.__qualname__}",
                         "spec": getattr(component.obj, "spec_name", None),
                         "options": describe_options(component.obj)})
        if args.json:
            _print_json(rows)
            return 0
        if not rows:
            print(f"no {args.kind} registered (see `kelcore plugins`)")
        for row in rows:
            spec = f"  C++ ModelSpec {row['spec']}" if row["spec"] else ""
            print(f"{row['name']}  ({row['distribution']} {row['version']}){spec}")
            for opt in row["options"]:
                default = "required" if opt["required"] else f"default {opt['default']!r}"
                text = f" - {opt['description']}" if opt["description"] else ""
                print(f"    {opt['name']}: {opt['type']} ({default}){text}")
        return 0


class DataCommand(Command):
    help = "dataset tools: validate a dataset folder, write a demo corpus"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="data_command", required=True, metavar="{validate,demo}")
        validate = sub.add_parser("validate", help="count listed, usable, missing, corrupt, unlabelled and "
                                  "unsupported tracks (exit 0 clean, 1 problems found, 2 unreadable)")
        validate.add_argument("dataset", help="registered dataset name (see `kelcore list datasets`)")
        validate.add_argument("--root", type=Path, required=True, help="folder holding the dataset's files")
        validate.add_argument("--json", action="store_true", help="machine-readable output")
        validate.add_argument("--option", "-o", action="append", default=[], metavar="KEY=VALUE",
                              help="extra dataset option, e.g. -o verify_checksums=true (repeatable)")
        demo = sub.add_parser("demo", help="write a small deterministic demo corpus in the dataset's real layout")
        demo.add_argument("dataset", help="registered dataset name")
        demo.add_argument("path", type=Path, help="folder to write the corpus into")
        demo.add_argument("--seed", type=int, default=0)
        demo.add_argument("--force", action="store_true",
                          help="write into a folder that holds files kelcore did not write (same names replaced)")

    def run(self, args: argparse.Namespace) -> int:
        try:
            cls = get_registry().get("datasets", args.dataset).obj
        except UnknownComponentError as exc:
            print(f"kelcore data: {exc}", file=sys.stderr)
            return 2
        if args.data_command == "demo":
            from .io import check_output_folder, mark_output_folder

            check_output_folder(args.path, force=args.force)
            try:
                cls.write_demo(args.path, seed=args.seed)
            except NotImplementedError as exc:
                print(f"kelcore data demo: {exc}", file=sys.stderr)
                return 2
            finally:  # whatever was written is kelcore's: a retry may write there again
                if args.path.is_dir() and any(args.path.iterdir()):
                    mark_output_folder(args.path)
            from .components import mark_demo

            kind = "real music" if getattr(cls, "real", False) else "synthetic"
            if kind == "synthetic":  # every plugin's demo: runs on it report "synthetic demo corpus"
                mark_demo(args.path, f"kelcore demo corpus written by `kelcore data demo {args.dataset}`: "
                                     "synthetic\n")
            print(f"{args.dataset}: demo corpus ({kind}) written to {args.path}")
            return 0
        return self._validate(cls, args)

    @staticmethod
    def _validate(cls: Any, args: argparse.Namespace) -> int:
        """Exit 0 when every listed track is usable, 1 when problems were found, 2 when the folder is unreadable."""
        from .errors import describe_exception

        if not args.root.is_dir():
            print(f"kelcore data validate: {args.root}: no such folder", file=sys.stderr)
            return 2
        from .config import options_from_cli

        where = f"kelcore data validate {args.dataset}"
        given = options_from_cli(cls, args.option, where, {"root": args.root})  # a clear error for a bad -o
        tasks = list(getattr(cls, "tasks", None) or {})
        if "task" in given.model_fields_set or len(tasks) < 2:
            tasks = [getattr(given, "task", None) if "task" in given.model_fields_set else None]
        reports = {}
        for task in tasks:  # a dataset serving several models: the counts of each model's training
            options = given if task is None else given.model_copy(update={"task": task})
            dataset = cls(options)
            try:
                reports[task] = dataset.validate(progress=on_terminal())
            except (OSError, ValueError, KeyError) as exc:  # the index itself cannot be read
                print(f"kelcore data validate: {args.dataset} at {args.root}: cannot read the dataset: "
                      f"{describe_exception(exc)}", file=sys.stderr)
                return 2
        if args.json:
            rows = {task: {**report.to_json(), **({} if task is None else {"task": task})}
                    for task, report in reports.items()}
            _print_json(next(iter(rows.values())) if len(rows) == 1 else
                        {"dataset": args.dataset, "root": str(args.root), "tasks": rows})
        for task, report in reports.items() if not args.json else ():
            print(f"{args.dataset}{'' if task is None else f' (task {task})'} at {report.root}: "
                  f"{report.counts_line()}")
            for problem in report.problems[:50]:
                print(f"  {problem.kind}: {problem.path}: {problem.reason}")
            if len(report.problems) > 50:
                print(f"  ... {len(report.problems) - 50} more (use --json for all)")
        return 1 if any(r.problems or r.usable < r.listed for r in reports.values()) else 0


@hookimpl
def kelcore_register_commands(register) -> None:
    register("run", RunCommand())
    register("check-config", CheckConfigCommand())
    register("plugins", PluginsCommand())
    register("list", ListCommand())
    register("data", DataCommand())
    register("spec", SpecCommand())
    from .exporting import ExportCommand, ValidateCommand

    register("export", ExportCommand())
    register("validate", ValidateCommand())

