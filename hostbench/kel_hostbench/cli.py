"""The hostbench command: benchmark and check exported models against the plugin's real-time budget.

  hostbench run MODELS_DIR --out REPORT_DIR [--audio FILE] [--midi FILE] [--quick] [budgets ...]
  hostbench summary RUN_DIR|RUNS_DIR [--out DIR] [--full]

The verdict is on what the plugin runs: the native RTNeural rows (build them with RTNEURAL_DIR set to an RTNeural
checkout). The numpy and PyTorch rows are references: their replay must match, their latency is not judged. A run
in which nothing native was measured, or a file whose weights do not match its weights_sha256, is a FAIL.
summary also fails a model that does not beat its baseline.

Exit status: 0 PASS, 1 FAIL (the reasons are printed), 2 bad input (missing folder, unwritable --out,
an --out folder holding files kelcore did not write: pass --force).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from kelcore.api import KelcoreError, claim_output_folder, describe_exception

from .bench import NoModels, Settings, run


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def _settings(args: argparse.Namespace, models_dir: Path, out: Path) -> Settings:
    rtneural = os.environ.get("RTNEURAL_DIR")
    return Settings(models_dir=models_dir, out=out, audio=getattr(args, "audio", None),
                    midi=getattr(args, "midi", None), quick=args.quick, budget_ms=args.budget_ms,
                    budget_weights_mb=args.budget_weights_mb, iterations=args.iterations, seconds=args.seconds,
                    rates=args.rates, blocks=args.blocks, engines=tuple(args.engines.split(",")),
                    rtneural_dir=Path(rtneural) if rtneural else None)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="short mode: 48 kHz x 128 and 1024 frames, 1 s each, "
                        "200 timed steps (for tests)")
    parser.add_argument("--budget-ms", type=float, default=10.0, help="full pipeline p99 budget (default 10 ms)")
    parser.add_argument("--budget-weights-mb", type=float, default=4.0,
                        help="float32 weights per model (default 4 MB)")
    parser.add_argument("--iterations", type=int, help="timed steps per engine (default 2000, quick 200)")
    parser.add_argument("--seconds", type=float, help="audio played per host configuration (default 4, quick 1)")
    parser.add_argument("--rates", type=_ints, help="host rates, comma-separated (default 44100,48000)")
    parser.add_argument("--blocks", type=_ints, help="block sizes, comma-separated (default 64,128,256,512,1024)")
    parser.add_argument("--engines", default="numpy,torch,native",
                        help="any of numpy,torch,native (native needs RTNEURAL_DIR)")


def print_run(report: dict[str, Any], out: Path) -> None:
    header = f"{'engine':<26}{'model':<19}{'ref err':>9}{'p50 µs':>10}{'p99 µs':>10}{'max µs':>10}{'mem MB':>8}  verdict"
    print(header)
    for row in report["engines"]:
        if row["status"] != "ok":
            print(f"{row['engine']:<26}{'(all)':<19}{row['status']:>9}")
            continue
        for name, e in row["models"].items():
            s = e.get("step_us") or {}
            error = e.get("replay_error")
            fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
            print(f"{row['engine']:<26}{name:<19}{'–' if error is None else f'{error:.1e}':>9}{fmt(s.get('p50')):>10}"
                  f"{fmt(s.get('p99')):>10}{fmt(s.get('max')):>10}"
                  f"{'–' if e.get('memory_bytes') is None else format(e['memory_bytes'] / 1e6, '.2f'):>8}  "
                  f"{e.get('verdict', '')}")
    sweep = report.get("native_pipeline") or {}
    if sweep.get("runs"):
        print(f"native path ({sweep['api']}): rate block deadline_us callback_p99_us max_us misses allocations")
        for r in sweep["runs"]:
            print(f"  {r['rate']:>6g} {r['block']:>5} {r['deadline_us']:>10.0f} {r['callback_us']['p99']:>10.1f}"
                  f" {r['callback_us']['max']:>8.1f} {r['deadline_misses']:>4} {r['audio_thread_allocations']:>4}")
    elif sweep:
        print(f"native path: {sweep.get('status')}")
    for failure in report["failures"]:
        print(f"FAIL: {failure}")
    print(f"{report['verdict']}: {out / 'report.md'} ({out / 'report.json'}, {out / 'latency.png'})")


def cmd_run(args: argparse.Namespace) -> int:
    if not args.models_dir.is_dir():
        print(f"hostbench run: {args.models_dir} is not a folder", file=sys.stderr)
        return 2
    for what in ("audio", "midi"):
        path = getattr(args, what)
        if path is not None and not path.is_file():
            print(f"hostbench run: --{what} {path} does not exist", file=sys.stderr)
            return 2
    claim_output_folder(args.out, force=args.force)
    code, report = run(_settings(args, args.models_dir, args.out))
    print_run(report, args.out)
    return code


def find_run(path: Path) -> Path | None:
    """``path`` itself when it holds a run's report.json, else the newest run folder inside it."""
    def is_run(p: Path) -> bool:
        try:
            return "jobs" in json.loads((p / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
    if is_run(path):
        return path
    runs = [p for p in path.iterdir() if p.is_dir() and is_run(p)] if path.is_dir() else []
    return max(runs, key=lambda p: (p / "report.json").stat().st_mtime, default=None)


def export_run(run_dir: Path, jobs: list[dict[str, Any]], models: Path) -> str:
    """The run's models, with the C++ folder (KelModels.h), in ``models``; returns how."""
    kelcore = Path(sys.executable).with_name("kelcore")
    if models.exists():
        shutil.rmtree(models)
    result = subprocess.run([str(kelcore if kelcore.exists() else "kelcore"), "export", str(run_dir), "--out",
                             str(models), "--cpp"], capture_output=True, text=True)
    if result.returncode == 0 and (models / "KelModels.h").exists():
        return "kelcore export --cpp"
    models.mkdir(parents=True, exist_ok=True)
    for job in jobs:
        for export in job.get("exports", {}).values():
            if Path(export["path"]).suffix == ".json" and Path(export["path"]).exists():
                shutil.copy2(export["path"], models / Path(export["path"]).name)
    return (f"the run's exports copied (kelcore export --cpp failed: "
            f"{(result.stderr.strip().splitlines() or ['?'])[-1]}): ModelT rows are not built")


def cmd_summary(args: argparse.Namespace) -> int:
    run_dir = find_run(args.run_dir)
    if run_dir is None:
        print(f"hostbench summary: no run with a report.json in {args.run_dir}", file=sys.stderr)
        return 2
    jobs = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))["jobs"]
    out = args.out or run_dir / "hostbench"
    if args.out is not None:
        claim_output_folder(out, force=args.force)
    how = export_run(run_dir, jobs, out / "models")
    args.quick = not args.full
    code, report = run(_settings(args, out / "models", out))
    by_spec = {job["spec"]: job for job in jobs if job.get("spec") and job.get("status", "ok") == "ok"}
    for job in jobs:  # a job that failed or has not run yet: said, and the summary is not a PASS
        if job.get("status", "ok") != "ok":
            print(f"{job['job']}: {job['status']}: {job.get('error', '')}")
    ok = [r for r in report["engines"] if r["status"] == "ok"]
    engine = next((r for r in ok if r["engine"] == "rtneural-modelt-native"), None) or next(
        (r for r in ok if r["engine"] == "rtneural-dynamic-native"), None) or next(iter(ok), None) or {
            "name": "none measured", "models": {}}
    native = any(r["kind"] == "native" for r in ok)
    row_failures = []
    print(f"\nSummary of {run_dir} (models: {how}; latency: {engine['name']}; memory: float32 weights + state; "
          f"budgets {report['budgets']['pipeline_ms']:g} ms per pipeline, {report['budgets']['weights_mb_per_model']:g}"
          " MB per model)")
    print(f"{'model':<19}{'params':>9}{'= spec':>7}  {'metric':<16}{'test':>9}{'baseline':>10}{'export diff':>12}"
          f"{'p99 µs':>9}{'mem MB':>8}  verdict")
    for name, facts in report["models"].items():
        job = by_spec.get(name, {})
        key = job.get("report", {}).get("primary_metric", "")
        test = job.get("test_metrics", {}).get(key)
        base = job.get("baseline_metrics", {}).get(key)
        diff = max((e.get("max_abs_error", 0.0) for e in job.get("exports", {}).values()), default=None)
        entry = engine["models"].get(name, {})
        p99 = (entry.get("step_us") or {}).get("p99")
        reasons = [f"{r['engine']}: {r['models'][name]['verdict']}" for r in report["engines"]
                   if r["status"] == "ok" and not r["models"].get(name, {}).get("verdict", "PASS").startswith("PASS")]
        if report["models"][name].get("weights_check"):
            reasons.append("weights do not match weights_sha256")
        if job and not job.get("beats_baseline"):
            reasons.append("does not beat its baseline")
        if not native:
            reasons.append("not measured natively")
        verdict = "PASS" if not reasons else "FAIL: " + "; ".join(reasons)
        if job and not job.get("beats_baseline"):
            row_failures.append(f"{name}: does not beat its baseline ({key} {test} vs {base})")
        print(f"{name:<19}{facts['parameters']:>9,}{'yes' if facts['parameters'] == facts['spec_parameters'] else 'NO':>7}"
              f"  {key:<16}{'–' if test is None else f'{test:.4f}':>9}{'–' if base is None else f'{base:.4f}':>10}"
              f"{'–' if diff is None else f'{diff:.1e}':>12}{'–' if p99 is None else f'{p99:.1f}':>9}"
              f"{(facts['weight_bytes'] + facts['state_bytes']) / 1e6:>8.2f}  {verdict}")
    sweep = report.get("native_pipeline") or {}
    if sweep.get("runs"):
        worst = max(sweep["runs"], key=lambda r: r["callback_us"]["max"] / r["deadline_us"])
        print(f"native path: {len(sweep['runs'])} host configurations, worst callback max "
              f"{worst['callback_us']['max']:.0f} µs of a {worst['deadline_us']:.0f} µs deadline "
              f"({worst['rate']:g} Hz / {worst['block']}), audio-thread allocations "
              f"{sum(r['audio_thread_allocations'] for r in sweep['runs'])}")
    else:
        print(f"native path: {sweep.get('status', 'not run')}")
    failures = [*report["failures"], *row_failures,
                *(f"job {job['job']}: {job['status']}" for job in jobs if job.get("status", "ok") != "ok")]
    for failure in failures:
        print(f"FAIL: {failure}")
    print(f"{'FAIL' if failures else 'PASS'}: {out / 'report.md'}")
    return 1 if failures else code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hostbench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="benchmark and check a folder of exported models")
    p.add_argument("models_dir", type=Path)
    p.add_argument("--audio", type=Path, help="audio file the host plays (default: a synthesized stereo signal)")
    p.add_argument("--midi", type=Path, help="MIDI file for the MIDI models' inputs (default: a generated song)")
    p.add_argument("--out", type=Path, required=True, help="report folder (new, empty, or written by hostbench)")
    p.add_argument("--force", action="store_true", help="write into an --out folder that holds other files")
    _common(p)
    p.set_defaults(func=cmd_run)
    s = sub.add_parser("summary", help="benchmark a `kelcore run`'s exports and print one row per model")
    s.add_argument("run_dir", type=Path, help="a run folder, or a runs folder (its newest run)")
    s.add_argument("--out", type=Path, help="report folder (default RUN_DIR/hostbench)")
    s.add_argument("--full", action="store_true", help="the full sweep instead of the quick one")
    s.add_argument("--force", action="store_true", help="write into an --out folder that holds other files")
    _common(s)
    s.set_defaults(func=cmd_summary, quick=False)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KelcoreError as exc:  # e.g. an --out folder holding the user's files
        print(f"hostbench {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except NoModels as exc:
        print(f"hostbench {args.command}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an unwritable --out, an unreadable file: a message, not a traceback
        if os.environ.get("KELCORE_DEBUG"):
            raise
        print(f"hostbench {args.command}: {describe_exception(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
