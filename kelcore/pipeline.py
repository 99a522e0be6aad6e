"""Running a validated pipeline: one run directory, one sub-folder per job.

::

    runs/<name>-<YYYYmmdd-HHMMSS>/
      pipeline.toml  run.json  environment.json  report.json  report.md
      <job>/  split.json  metrics.csv  tensorboard/  checkpoints/  model.pt  job.json  result.json
              report.md  curves.png  test.png  exports/
"""
from __future__ import annotations

import json
import platform
import random
import sys
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .components import ExportContext, RunContext, ValidationReport, provenance_of
from .config import Job, Pipeline
from .errors import UsageError, describe_exception
from .io import write_json_atomic
from .plugins import get_registry
from .progress import on_terminal
from .runs import build_model, save_trained


class RunError(UsageError):
    """A run could not start or resume (the message says why): bad input, exit 2."""


def new_run_dir(pipeline: Pipeline, only: list[str] | None = None) -> Path:
    """Create ``runs_dir/<name>-<timestamp>/`` and record config, environment and identity: the jobs it runs, the
    ``--only`` and ``--set`` it was started with (a resume continues exactly those)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = pipeline.run.runs_dir / f"{pipeline.run.name}-{stamp}"
    suffix = 1
    while run_dir.exists():
        suffix += 1
        run_dir = pipeline.run.runs_dir / f"{pipeline.run.name}-{stamp}-{suffix}"
    run_dir.mkdir(parents=True)
    (run_dir / "pipeline.toml").write_text(pipeline.text, encoding="utf-8")
    write_json_atomic(run_dir / "run.json", {
        "run_id": run_dir.name, "pipeline": str(pipeline.path.resolve()), "config_hash": pipeline.config_hash,
        "resolved": pipeline.raw, "jobs": [job.name for job in pipeline.jobs], "overrides": pipeline.overrides,
        "only": list(only or []),
    })
    write_json_atomic(run_dir / "environment.json", environment(pipeline))
    return run_dir


def read_run_info(run_dir: Path) -> dict[str, Any]:
    """A run directory's ``run.json``; :class:`RunError` (exit 2) when ``run_dir`` is not a run directory."""
    info_path = run_dir / "run.json"
    if not run_dir.is_dir():
        raise RunError(f"--resume {run_dir}: no such run directory")
    try:
        return json.loads(info_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunError(f"--resume {run_dir}: not a kelcore run directory (no run.json)") from None
    except (OSError, ValueError) as exc:
        raise RunError(f"--resume {run_dir}: cannot read {info_path}: {describe_exception(exc)}") from None


def resume_arguments(info: dict[str, Any], overrides: list[str], only: list[str]) -> tuple[list[str], list[str]]:
    """The ``--set`` and ``--only`` a resume runs with: the run's own (run.json). ``--set`` given again must be the
    same; ``--only`` may name a subset of the run's jobs (the others keep their results)."""
    recorded_set = list(info.get("overrides") or [])
    jobs = list(info.get("jobs") or [])
    if overrides and overrides != recorded_set:
        started = " ".join(f"--set {o}" for o in recorded_set) or "no --set"
        raise RunError(f"--set differs from the run's ({started}); a resume continues the run as it was started: "
                       "leave --set out, or start a new run")
    outside = [name for name in only if name not in jobs]
    if outside:
        raise RunError(f"--only {' '.join(outside)}: not a job of this run (its jobs: {', '.join(jobs)}); "
                       "start a new run to train other jobs")
    return recorded_set, list(only or info.get("only") or jobs)


def resume_command(pipeline_path: Path, run_dir: Path, info: dict[str, Any]) -> str:
    """The complete command line that continues ``run_dir``: its pipeline, --set and --only included."""
    import shlex

    words = ["kelcore", "run", str(pipeline_path), "--resume", str(run_dir)]
    for item in info.get("overrides") or []:
        words += ["--set", item]
    for name in info.get("only") or []:
        words += ["--only", name]
    return shlex.join(words)


def check_resumable(pipeline: Pipeline, run_dir: Path) -> None:
    """A run may resume only with the same pipeline it started with."""
    info = read_run_info(run_dir)
    if info.get("config_hash") != pipeline.config_hash:
        raise RunError(
            f"{pipeline.path}: the pipeline differs from the one {run_dir} was started with "
            f"(saved copy: {run_dir / 'pipeline.toml'}"
            + (f", started with --set {' --set '.join(info['overrides'])}" if info.get("overrides") else "")
            + "); resume with that file and the same --set options, or start a new run")


def check_datasets(pipeline: Pipeline) -> None:
    """Every job's dataset passes its cheap structural checks (index present and readable), or a
    :class:`ConfigError` (exit 2) lists what does not, before anything runs."""
    from .config import ConfigError, KeyLines

    keys, problems = KeyLines(pipeline.text), []
    for job in pipeline.jobs:
        try:
            found = job.dataset.check_structure() if hasattr(job.dataset, "check_structure") else []
        except Exception as exc:  # noqa: BLE001 - a check that breaks is a problem to report, not a traceback
            found = [f"structural check failed: {describe_exception(exc)}"]
        key = ("jobs", job.name, "dataset_options", "root")
        problems += [f"{pipeline.path}:{keys.line(key)}: {'.'.join(key)}: dataset {job.dataset_name!r}: {text}"
                     for text in found]
    if problems:
        raise ConfigError(problems)


def environment(pipeline: Pipeline) -> dict[str, Any]:
    """Versions of Python, the key packages and every loaded plugin, plus seeds."""
    packages = {}
    names = ["kelcore", "torch", "numpy", "pydantic", "pluggy"]
    names += sorted({p.distribution for p in get_registry().plugins if not p.distribution.startswith("kelcore")})
    for name in names:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0], "platform": platform.platform(), "argv": sys.argv,
        "packages": packages, "torch_threads": torch.get_num_threads(),
        "seeds": {job.name: job.seed for job in pipeline.jobs},
    }


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_job(job: Job, run_dir: Path, run_id: str, config_hash: str, resume: bool) -> dict[str, Any]:
    """Prepare data, train, save the model, export; returns the job's result record."""
    job_dir = run_dir / job.name
    context = RunContext(run_dir=job_dir, seed=job.seed, job=job.name, run_id=run_id,
                         config_hash=config_hash, progress=on_terminal(), resume=resume)
    job_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(job.seed)
    provenance = provenance_of(job.dataset)
    context.log(f"{job.name}: preparing dataset {job.dataset_name!r} ({provenance})")
    data = job.dataset.prepare(context)
    context.log(f"{job.name}: {len(data.train)} train / {len(data.validation)} validation / "
                f"{len(data.test)} test sequences")
    model = build_model(job.model_cls, job.model_options, seed=job.seed)
    result = job.trainer.fit(model, data, context)
    save_trained(job_dir, job.model_name, job.model_options, model, data.normalization, run_id, config_hash,
                 job.seed)
    from .exporting import export_models

    export_context = ExportContext(normalization=data.normalization, run_id=run_id, config_hash=config_hash,
                                   seed=job.seed)
    done = export_models([(job.name, model, export_context)], job.exporters, job_dir / "exports",
                         log=lambda line: context.log(f"{job.name}: exported {line.split(': ', 1)[1]}"))
    exports = {d.exporter: {"path": str(d.result.path), "max_abs_error": d.result.max_abs_error} for d in done}
    record = {"job": job.name, "model": job.model_name, "spec": model.spec_name, "dataset": job.dataset_name,
              "provenance": provenance, **asdict(result), "exports": exports, "data": dataset_counts(job.dataset_name, data)}
    _job_report(job_dir, record, model, data, context)
    write_json_atomic(job_dir / "result.json", record)
    return record


def dataset_counts(name: str, data: Any) -> dict[str, Any]:
    """The dataset's counts for report.json (the same as ``kelcore data validate`` and the run's log) and the
    sequences per split."""
    report = data.report
    if report is None:  # a dataset that does not count: every sequence it gave is usable
        total = len(data.train) + len(data.validation) + len(data.test)
        report = ValidationReport(dataset=name, root="", listed=total, usable=total)
    return {**report.counts(), "splits": {"train": len(data.train), "validation": len(data.validation),
                                          "test": len(data.test)}}


def _job_report(job_dir: Path, record: dict[str, Any], model: Any, data: Any, context: RunContext) -> None:
    """``<job>/report.md`` and its PNGs; a plot that cannot be drawn never fails a trained job."""
    from .report import write_job_report
    from .training.default import predict

    try:
        split = data.test or data.validation
        model.to("cpu", torch.float32)
        outputs, targets = predict(model, split) if split else (None, None)
        path = write_job_report(job_dir, record, model, outputs, targets)
        context.log(f"{job_dir.name}: report {path}")
    except Exception as exc:  # noqa: BLE001
        context.log(f"{job_dir.name}: could not write report.md: {describe_exception(exc)}")


FAILURE_FILE = "failure.json"


def execute(pipeline: Pipeline, run_dir: Path, resume: bool = False) -> list[dict[str, Any]]:
    """Run every job not already finished in ``run_dir``; write and return the report of the whole run.

    A job that fails (its data unusable, say) is recorded in ``<job>/failure.json`` and the other jobs still run;
    the report holds every job of the run (run.json), whichever of them this invocation ran."""
    from .training.default import Interrupted

    run_id = run_dir.name
    for job in pipeline.jobs:
        done_path = run_dir / job.name / "result.json"
        if resume and done_path.exists():
            print(f"{job.name}: already finished, skipped", file=sys.stderr)
            continue
        try:
            run_job(job, run_dir, run_id, pipeline.config_hash, resume)
            (run_dir / job.name / FAILURE_FILE).unlink(missing_ok=True)
        except Interrupted:
            raise
        except Exception as exc:  # noqa: BLE001 - one job's failure never stops the others
            _record_failure(run_dir, job, exc)
    records = run_records(run_dir, [job.name for job in pipeline.jobs])
    write_json_atomic(run_dir / "report.json", {"run_id": run_id, "jobs": records})
    from .report import write_run_report

    try:
        write_run_report(run_dir, records, summary(records))
    except Exception as exc:  # noqa: BLE001 - the report never fails a finished run
        print(f"could not write {run_dir / 'report.md'}: {describe_exception(exc)}", file=sys.stderr)
    return records


def _record_failure(run_dir: Path, job: Job, exc: Exception) -> None:
    import os
    import traceback

    message = describe_exception(exc)
    print(f"{job.name}: FAILED: {message} (the other jobs go on; details in {run_dir / job.name / FAILURE_FILE})",
          file=sys.stderr)
    if os.environ.get("KELCORE_DEBUG"):
        traceback.print_exc()
    write_json_atomic(run_dir / job.name / FAILURE_FILE, {
        "job": job.name, "model": job.model_name, "spec": getattr(job.model_cls, "spec_name", ""),
        "dataset": job.dataset_name, "status": "failed", "error": message,
        "traceback": traceback.format_exc()})


def run_records(run_dir: Path, ran: list[str] | None = None) -> list[dict[str, Any]]:
    """Every job of the run (run.json's list, then any other job folder), in order: its ``result.json``, else
    its ``failure.json``, else a "not run" record."""
    try:
        jobs = list(json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("jobs") or [])
    except (OSError, ValueError):
        jobs = []
    jobs += [name for name in ran or [] if name not in jobs]
    records = []
    for name in jobs:
        for file in ("result.json", FAILURE_FILE):
            path = run_dir / name / file
            if path.exists():
                record = json.loads(path.read_text(encoding="utf-8"))
                record.pop("traceback", None)
                records.append(record)
                break
        else:
            records.append({"job": name, "status": "not run", "error": "not run yet (resume the run to train it)"})
    return records


def failed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of jobs that did not finish (failed, or not run yet)."""
    return [rec for rec in records if rec.get("status", "ok") != "ok"]


def baseline_only(rec: dict[str, Any]) -> dict[str, float]:
    """The baselines' extra figures (``majority_*``, ``template_*``, ``bigram_*``...): keys the model has no value
    for; those of the primary metric first."""
    key = rec["report"]["primary_metric"]
    extra = {k: v for k, v in rec.get("baseline_metrics", {}).items() if k not in rec.get("test_metrics", {})}
    return dict(sorted(extra.items(), key=lambda kv: (not kv[0].endswith(f"_{key}"), kv[0])))


def summary(records: list[dict[str, Any]]) -> str:
    """A plain table: each job's primary metric on the test split against its (named) baseline, the other
    baselines' figures for that metric, and whether the data was real or synthetic."""
    problems = failed(records)
    records = [rec for rec in records if rec not in problems]
    shown = [rec["report"]["primary_metric"] for rec in records]
    shown += [name for rec in records for name in baseline_only(rec)
              if name.endswith(f"_{rec['report']['primary_metric']}")]
    w = max([16, *map(len, shown)])
    lines = ["Results on the test split (primary metric; model vs its baseline; data real or synthetic)",
             f"{'job':<12} {'model':<18} {'metric':<{w}} {'model':>10} {'baseline':>10}  {'verdict':<26}  data"]
    for rec in records:
        key = rec["report"]["primary_metric"]
        verdict = "beats baseline" if rec["beats_baseline"] else "DOES NOT beat the baseline"
        split = rec["report"].get("evaluated_on", "test")
        note = "" if split == "test" else f" (on the {split} split)"
        lines.append(f"{rec['job']:<12} {rec['spec']:<18} {key:<{w}} {rec['test_metrics'][key]:>10.4f} "
                     f"{rec['baseline_metrics'][key]:>10.4f}  {verdict + note:<26}  "
                     f"{rec.get('provenance', 'not recorded')}")
        for name, value in baseline_only(rec).items():
            if name.endswith(f"_{key}"):
                lines.append(f"{'':<12} {'':<18} {name:<{w}} {'':>10} {value:>10.4f}  (baseline only)")
    for rec in problems:
        lines.append(f"{rec['job']:<12} {rec.get('spec', ''):<18} {rec['status'].upper()}: {rec.get('error', '')}")
    named = [(rec["job"], rec["report"].get("baseline")) for rec in records if rec["report"].get("baseline")]
    if named:
        lines.append("baselines:")
        lines += [f"  {job:<12} {text}" for job, text in named]
    others = [(rec["job"], {k: v for k, v in baseline_only(rec).items()
                            if not k.endswith(f"_{rec['report']['primary_metric']}")}) for rec in records]
    others = [(job, extra) for job, extra in others if extra]
    if others:
        lines.append("other baseline figures:")
        lines += [f"  {job:<12} " + ", ".join(f"{k} {v:.4f}" for k, v in extra.items()) for job, extra in others]
    return "\n".join(lines)
