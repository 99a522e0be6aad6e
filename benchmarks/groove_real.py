"""GroovePredictor judged on REAL Groove MIDI performances, leave one drummer out (and on the official split).

The root holds Groove MIDI v1.0.0 (info.csv + drummer<N>/<session>/*.mid): by default the handful of real
performances in shared/data/real/groove, or the whole MIDI release where ``$GROOVE_MIDI_DIR`` (or ``--root``) points
to one (https://magenta.tensorflow.org/datasets/groove, groove-v1.0.0-midionly.zip; never committed). For each
drummer that has at least one performance GroovePredictor takes (4/4 beats; fills and other metres are skipped by
the dataset plugin as "unsupported"), a fold trains on the other drummers only and tests on that drummer's unseen
files: a copy of info.csv with only the files present, its split column rewritten (test = the held-out drummer,
validation = one other drummer, train = the rest), is written to a temporary folder next to links to the drummers'
folders, and the fold runs as a small pipeline through ``kelcore run`` (groove-midi dataset plugin, groove model).
Printed per fold and in total: timing MAE (ms) and velocity MAE of the model and of its baseline (the model
plugin's baseline_metrics: zero offset, the training split's mean velocity), as the mean over folds and pooled
over every held-out performance, and how many folds the model wins. ``--official`` trains once on the release's
own train/validation/test split instead.

    python benchmarks/groove_real.py              # every fold, 30 epochs
    python benchmarks/groove_real.py --quick      # one fold, 2 epochs (the test runs this)
    python benchmarks/groove_real.py --root DIR   # another copy (or set GROOVE_MIDI_DIR)
    python benchmarks/groove_real.py --official   # the official split, one run

With the 9 files of shared/data/real only 3 are 4/4 beats (20 bars in all): every fold trains on one performance and
tests on one, so those figures cannot show more than that the path runs on real data.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CANDIDATES = [REPO / "shared" / "data" / "real" / "groove", REPO.parent / "shared" / "data" / "real" / "groove"]


ROOT_VARIABLE = "GROOVE_MIDI_DIR"


def default_root() -> Path:
    """``$GROOVE_MIDI_DIR`` (a full copy of the release), else the real sample in shared/data/real/groove."""
    if os.environ.get(ROOT_VARIABLE):
        return Path(os.environ[ROOT_VARIABLE])
    for candidate in CANDIDATES:
        if candidate.exists():
            return candidate
    return CANDIDATES[-1]


def present_rows(root: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(root / "info.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if (root / row["midi_filename"]).exists()]
        return list(reader.fieldnames or []), rows


def usable(row: dict[str, str]) -> bool:
    """What the groove-midi dataset plugin feeds GroovePredictor: 4/4 beats."""
    return row["beat_type"] == "beat" and row["time_signature"] == "4-4"


PIPELINE = """[run]
name = "groove-real-{test}"
seed = 0
runs_dir = "{runs}"

[jobs.groove]
model = "groove"
dataset = "groove-midi"
exporters = []
[jobs.groove.dataset_options]
root = "{root}"
cache_dir = "{cache}"
[jobs.groove.trainer_options]
epochs = {epochs}
window = 16
batch_size = 8
learning_rate = 0.003
patience = 8
"""


def run_pipeline(name: str, data: Path, epochs: int, work: Path) -> dict:
    """``kelcore run`` one groove job on ``data`` (a Groove MIDI layout); its result.json, checked to be a test."""
    pipeline = work / "pipeline.toml"
    pipeline.write_text(PIPELINE.format(test=name, runs=work / "runs", root=data, cache=work / "cache",
                                        epochs=epochs), encoding="utf-8")
    kelcore = [sys.executable, "-m", "kelcore.cli"] if not (Path(sys.executable).parent / "kelcore").exists() \
        else [str(Path(sys.executable).parent / "kelcore")]
    result = subprocess.run([*kelcore, "run", str(pipeline)], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"{name}: kelcore run failed\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    (record_path,) = (work / "runs").glob("*/groove/result.json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record["report"].get("evaluated_on") != "test":
        raise SystemExit(f"{name}: evaluated on {record['report'].get('evaluated_on')}, not held-out performances")
    return record


def run_fold(root: Path, fields: list[str], rows: list[dict[str, str]], test: str, validation: str,
             epochs: int, work: Path) -> dict:
    """Train on every drummer but ``test`` and ``validation``, test on ``test``'s performances."""
    fold = work / test
    data = fold / "data"
    data.mkdir(parents=True)
    for drummer in sorted({row["drummer"] for row in rows}):
        os.symlink(root / drummer, data / drummer, target_is_directory=True)
    with open(data / "info.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            split = "test" if row["drummer"] == test else "validation" if row["drummer"] == validation else "train"
            writer.writerow({**row, "split": split})
    return run_pipeline(test, data, epochs, fold)


METRICS = (("timing_mae_ms", "timing", "zero-offset"), ("velocity_mae", "velocity", "mean-velocity"))


def weighted_means(folds: list[tuple[str, str, int, dict]], weights: list[int]) -> dict[tuple[str, str], float]:
    """(metric, "test_metrics" | "baseline_metrics") -> the folds' figures averaged with ``weights``."""
    return {(key, side): sum(w * record[side][key] for w, (*_, record) in zip(weights, folds)) / sum(weights)
            for key, _, _ in METRICS for side in ("test_metrics", "baseline_metrics")}


def summarise(folds: list[tuple[str, str, int, dict]]) -> list[str]:
    """Per fold, the mean over folds, the mean pooled over held-out performances, and the verdicts."""
    header = f"{'fold (test drummer)':<22} {'val drummer':<12} {'files':>5} {'train/val/test seq':>18} " \
             f"{'timing MAE ms':>14} {'baseline':>9} {'velocity MAE':>13} {'baseline':>9}"
    lines = ["real performances, held-out drummer (model vs baseline):", header]
    for test, validation, files, record in folds:
        model, base = record["test_metrics"], record["baseline_metrics"]
        splits = record.get("data", {}).get("splits", {})
        counts = "/".join(str(splits.get(k, "?")) for k in ("train", "validation", "test"))
        lines.append(f"{test:<22} {validation:<12} {files:>5} {counts:>18} {model['timing_mae_ms']:>14.2f} "
                     f"{base['timing_mae_ms']:>9.2f} {model['velocity_mae']:>13.2f} {base['velocity_mae']:>9.2f}")
    weights = [record.get("data", {}).get("splits", {}).get("test", files) for _, _, files, record in folds]
    pooled = weighted_means(folds, weights)
    for label, value in ((f"mean of {len(folds)} folds", weighted_means(folds, [1] * len(folds))),
                         (f"pooled, {sum(weights)} files", pooled)):
        lines.append(f"{label:<22} {'':<12} {'':>5} {'':>18} {value['timing_mae_ms', 'test_metrics']:>14.2f} "
                     f"{value['timing_mae_ms', 'baseline_metrics']:>9.2f} {value['velocity_mae', 'test_metrics']:>13.2f} "
                     f"{value['velocity_mae', 'baseline_metrics']:>9.2f}")
    for key, name, baseline in METRICS:
        wins = sum(r["test_metrics"][key] < r["baseline_metrics"][key] for *_, r in folds)
        verdict = "beats" if pooled[key, "test_metrics"] < pooled[key, "baseline_metrics"] else "does NOT beat"
        lines.append(f"{name}: model {verdict} the {baseline} baseline pooled over the held-out performances "
                     f"(wins {wins} of {len(folds)} folds)")
    return lines


def official(root: Path, epochs: int) -> list[str]:
    """One run on the release's own split (every drummer on every side; the test split held out)."""
    with tempfile.TemporaryDirectory(prefix="groove-official-") as tmp:
        record = run_pipeline("official", root, epochs, Path(tmp))
    model, base = record["test_metrics"], record["baseline_metrics"]
    splits = record.get("data", {}).get("splits", {})
    return [f"official split ({splits.get('train', '?')}/{splits.get('validation', '?')}/{splits.get('test', '?')} "
            f"train/validation/test performances, {epochs} epochs):",
            *(f"  {name} MAE{' ms' if key.startswith('timing') else ''}: model {model[key]:.2f}, baseline "
              f"{base[key]:.2f} -> {'beats' if model[key] < base[key] else 'does NOT beat'} the {baseline} baseline"
              for key, name, baseline in METRICS)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None,
                        help=f"folder with info.csv and drummer*/ (default: ${ROOT_VARIABLE}, else the real sample)")
    parser.add_argument("--quick", action="store_true", help="one fold, 2 epochs")
    parser.add_argument("--official", action="store_true", help="the release's own split, one run")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    root = (args.root or default_root()).resolve()
    if not (root / "info.csv").exists():
        print(f"skipped: real Groove MIDI performances absent ({root}); timing MAE ms and velocity MAE vs baseline "
              "on real performances not measured")
        return 0
    epochs = args.epochs or (2 if args.quick else 30)
    if args.official:
        print("\n".join(official(root, epochs)))
        return 0
    fields, rows = present_rows(root)
    drummers = sorted({row["drummer"] for row in rows})
    takes = {d: sum(usable(r) for r in rows if r["drummer"] == d) for d in drummers}
    print(f"GroovePredictor on real performances (Groove MIDI, {root}): {len(rows)} files of "
          f"{len(drummers)} drummers, {sum(takes.values())} of them 4/4 beats GroovePredictor takes; "
          f"leave one drummer out, {epochs} epochs per fold")
    with_beats = [d for d in drummers if takes[d]]
    for drummer in drummers:
        if not takes[drummer]:
            print(f"  {drummer}: no fold (no 4/4 beat performance to test on; its files stay in training, skipped "
                  "by the dataset plugin)")
    if len(with_beats) < 3:
        print("skipped: fewer than 3 drummers with 4/4 beats (need train, validation and test drummers)")
        return 0
    folds = []
    with tempfile.TemporaryDirectory(prefix="groove-real-") as tmp:
        for test in with_beats[:1] if args.quick else with_beats:
            validation = [d for d in with_beats if d != test][-1]
            folds.append((test, validation, takes[test], run_fold(root, fields, rows, test, validation, epochs,
                                                                 Path(tmp))))
    print("\n".join(summarise(folds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
