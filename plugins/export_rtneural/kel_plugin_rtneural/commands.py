"""``kelcore export`` and ``kelcore validate``."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from kelcore.api import Command, ExportContext
from kelcore.plugins import get_registry
from kelcore.progress import on_terminal
from kelcore.runs import build_model, load_trained

from .cpp_header import cpp_header
from .exporter import RTNeuralExporter
from .validate import UNREADABLE, VALID, validate_file


class ExportCommand(Command):
    help = "export models to RTNeural JSON (from a run directory, or untrained straight from their plugins)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("run_dir", nargs="?", type=Path, help="a run directory of `kelcore run`")
        parser.add_argument("--untrained", action="store_true", help="export every registered model untrained")
        parser.add_argument("--seed", type=int, default=0, help="weight seed for --untrained (default 0)")
        parser.add_argument("--models", help="comma-separated model names (default: all)")
        parser.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/exports)")
        parser.add_argument("--cpp", "--cpp-header", dest="cpp", action="store_true",
                            help="also write the plugin's C++ folder: KelModels.h (ModelT aliases), ModelSpec.h, "
                                 "KelFeatures.h and the headers it includes, example_plugin_side.cpp")

    def run(self, args: argparse.Namespace) -> int:
        if args.untrained == bool(args.run_dir):
            print("kelcore export: give a RUN_DIR or --untrained (not both)", file=sys.stderr)
            return 2
        if args.untrained and args.out is None:
            print("kelcore export: --untrained needs --out DIR", file=sys.stderr)
            return 2
        jobs = self._untrained(args) if args.untrained else self._trained(args)
        out = args.out or args.run_dir / "exports"
        exporter = RTNeuralExporter()
        documents = {}
        for label, model, context in jobs:
            path = out / f"{model.spec_name}.json"
            result = exporter.export(model, path, context)
            print(f"{label}: {path} ({path.stat().st_size / 1e6:.2f} MB, max |file - PyTorch| = "
                  f"{result.max_abs_error:.2e})")
            documents[model.spec_name] = json.loads(path.read_text(encoding="utf-8"))
        if args.cpp:
            written = write_plugin_folder(out, documents)
            print(f"C++ for the plugin: {', '.join(p.name for p in written)} in {out}")
        return 0

    @staticmethod
    def _untrained(args: argparse.Namespace):
        registry = get_registry()
        names = args.models.split(",") if args.models else registry.names("models")
        for name in names:
            cls = registry.get("models", name).obj
            model = build_model(cls, None, seed=args.seed)
            spec_in = model.feature_contract().inputs
            identity = {"mean": [0.0] * len(spec_in), "std": [1.0] * len(spec_in)}
            yield name, model, ExportContext(normalization=identity, run_id="untrained", seed=args.seed)

    @staticmethod
    def _trained(args: argparse.Namespace):
        wanted = set(args.models.split(",")) if args.models else None
        for trained in load_trained(args.run_dir):
            if wanted is None or trained.model_name in wanted or trained.job in wanted:
                yield trained.job, trained.model, trained.context


def write_plugin_folder(out: Path, documents: dict) -> list[Path]:
    """Beside the JSON files: the ModelT header of these exports, the ModelSpec header, the feature library
    (KelFeatures.h and what it includes) and the example that loads the files, feeds features and decodes."""
    from kel_contracts import native_dir
    from kelcore.spec import HEADER_PATH

    header = out / "KelModels.h"
    header.write_text(cpp_header(documents), encoding="utf-8")
    written = [header]
    sources = [HEADER_PATH, *sorted(native_dir().glob("*.h")), native_dir() / "example_plugin_side.cpp"]
    for source in sources:
        target = out / source.name
        shutil.copyfile(source, target)
        written.append(target)
    return written


class ValidateCommand(Command):
    help = "check RTNeural JSON files: structure, dimensions, metadata, ModelSpec, reference replay"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("files", nargs="+", type=Path, metavar="MODEL.json")
        parser.add_argument("--check-specs", action="store_true", help="also check against the C++ ModelSpec")
        parser.add_argument("--json", action="store_true", help="machine-readable output")

    def run(self, args: argparse.Namespace) -> int:
        reports = []
        for index, path in enumerate(args.files):
            if on_terminal():
                print(f"\rvalidating {index + 1}/{len(args.files)}: {path}", end="", file=sys.stderr)
            reports.append(validate_file(path, check_specs=args.check_specs))
        if on_terminal():
            print(file=sys.stderr)
        if args.json:
            print(json.dumps([r.__dict__ for r in reports], indent=2))
        else:
            for report in reports:
                if report.status == VALID:
                    error = f", reference replay max error {report.max_replay_error:.2e}"
                    print(f"{report.path}: OK ({report.model}{error if report.max_replay_error is not None else ''})")
                for problem in report.problems:
                    print(problem)
        status = max(r.status for r in reports)
        return UNREADABLE if status == UNREADABLE else status
