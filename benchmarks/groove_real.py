"""GroovePredictor judged on the REAL Groove MIDI performances in shared/data/real/groove, leave one drummer out.

The folder holds a handful of real performances (drummer<N>/<session>/*.mid) and the official info.csv. For each
drummer that has at least one performance GroovePredictor takes (4/4 beats; fills and other metres are skipped by the
dataset plugin as "unsupported"), a fold trains on the other drummers only and tests on that drummer's unseen files:
a copy of info.csv with only the files present, its split column rewritten (test = the held-out drummer, validation
= one other drummer, train = the rest), is written to a temporary folder next to links to the drummers' folders, and
the fold runs as a small pipeline through ``kelcore run`` (groove-midi dataset plugin, groove model). Printed per fold
and in total (the unweighted mean over the folds): timing MAE (ms) and velocity MAE of the model and of its baseline
(the model plugin's baseline_metrics: zero offset, the training split's mean velocity).

    python benchmarks/groove_real.py            # every fold, 30 epochs
    python benchmarks/groove_real.py --quick    # one fold, 2 epochs (the test runs this)
    python benchmarks/groove_real.py --root DIR # another copy of the real performances

With so few performances the figures are noisy and say little beyond "does it beat the baseline here".
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


def default_root() -> Path:
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
dataset = "groove"
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


def run_fold(root: Path, fields: list[str], rows: list[dict[str, str]], test: str, validation: str,
             epochs: int, work: Path) -> dict:
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
    pipeline = fold / "pipeline.toml"
    pipeline.write_text(PIPELINE.format(test=test, runs=fold / "runs", root=data, cache=fold / "cache",
                                        epochs=epochs), encoding="utf-8")
    kelcore = [sys.executable, "-m", "kelcore.cli"] if not (Path(sys.executable).parent / "kelcore").exists() \
        else [str(Path(sys.executable).parent / "kelcore")]
    result = subprocess.run([*kelcore, "run", str(pipeline)], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"fold {test}: kelcore run failed\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    (record_path,) = (fold / "runs").glob("*/groove/result.json")
    record = json.loads(record_path.read_text(encoding="utf-8"))
    if record["report"].get("evaluated_on") != "test":
        raise SystemExit(f"fold {test}: evaluated on {record['report'].get('evaluated_on')}, not the held-out drummer")
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=None, help="folder with info.csv and drummer*/ (real data)")
    parser.add_argument("--quick", action="store_true", help="one fold, 2 epochs")
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    root = args.root or default_root()
    if not (root / "info.csv").exists():
        print(f"skipped: real Groove MIDI performances absent ({root}); timing MAE ms and velocity MAE vs baseline "
              "on real performances not measured")
        return 0
    epochs = args.epochs or (2 if args.quick else 30)
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
    folds = with_beats[:1] if args.quick else with_beats
    header = f"{'fold (test drummer)':<22} {'val drummer':<12} {'files':>5} {'train/val/test seq':>18} " \
             f"{'timing MAE ms':>14} {'baseline':>9} {'velocity MAE':>13} {'baseline':>9}"
    totals = {"folds": 0, "timing": 0.0, "timing_base": 0.0, "velocity": 0.0, "velocity_base": 0.0}
    lines = []
    with tempfile.TemporaryDirectory(prefix="groove-real-") as tmp:
        for test in folds:
            others = [d for d in with_beats if d != test]
            validation = others[-1]
            record = run_fold(root, fields, rows, test, validation, epochs, Path(tmp))
            model, base = record["test_metrics"], record["baseline_metrics"]
            splits = record.get("data", {}).get("splits", {})
            counts = "/".join(str(splits.get(k, "?")) for k in ("train", "validation", "test"))
            lines.append(f"{test:<22} {validation:<12} {takes[test]:>5} {counts:>18} {model['timing_mae_ms']:>14.2f} "
                         f"{base['timing_mae_ms']:>9.2f} {model['velocity_mae']:>13.2f} {base['velocity_mae']:>9.2f}")
            totals["folds"] += 1
            totals["timing"] += model["timing_mae_ms"]
            totals["timing_base"] += base["timing_mae_ms"]
            totals["velocity"] += model["velocity_mae"]
            totals["velocity_base"] += base["velocity_mae"]
    print("real performances, held-out drummer (model vs baseline):")
    print(header)
    for line in lines:
        print(line)
    n = totals["folds"]
    print(f"{'total (mean of ' + str(n) + ' folds)':<22} {'':<12} {'':>5} {'':>18} {totals['timing'] / n:>14.2f} "
          f"{totals['timing_base'] / n:>9.2f} {totals['velocity'] / n:>13.2f} {totals['velocity_base'] / n:>9.2f}")
    verdict = "beats" if totals["timing"] < totals["timing_base"] else "does NOT beat"
    print(f"timing: model {verdict} the zero-offset baseline on real performances")
    verdict = "beats" if totals["velocity"] < totals["velocity_base"] else "does NOT beat"
    print(f"velocity: model {verdict} the mean-velocity baseline on real performances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
