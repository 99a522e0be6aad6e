"""Lakh at scale: build a Lakh-layout tree of N real-derived MIDI files and measure index, cold and warm preparation.

The files are real music: music21's Bach chorales and folk tunes converted by the music21corpus plugin (kept in
``--source``, converted once), each copy made byte-distinct by a text event naming its number (the notes are the
source's, so per-file work is that of a real multi-part file), written as ``lmd_full/<md5[0]>/<md5>.mid``.
Measured through the Lakh plugin's own path (index -> cached parallel extraction streamed into the packed feature store
-> split), with every core:

    python benchmarks/lakh_scale.py                 # 3,000 files
    python benchmarks/lakh_scale.py --files 200 --quick
    python benchmarks/lakh_scale.py --full          # 176,581 files (the size of LMD-full)
    python benchmarks/lakh_scale.py --full --train  # ... then MelodyTransformer trained one epoch on it

``--train`` adds a phase (a fresh process again): the warm preparation, then ``DefaultTrainer.fit`` of
MelodyTransformer for one epoch over the whole training split, its windows drawn per batch from the packed,
memory-mapped store (nothing stacked). Validation and test are capped at ``--eval-sequences`` sequences: the
evaluation holds every output of a split in memory (~0.5 GB for LMD-full's validation split), which this phase does
not yet stream. It reports the epoch's time, sequences (training windows) per second and the phase's peak memory.

Prints files/s and peak memory of each phase (run in a fresh process, so that its peaks are its own); --json
writes them. Two memory figures, for the phase's process and its largest worker:

* peak RSS (``ru_maxrss``, the kernel's VmHWM): every resident page, the file-backed ones included -- the pages of
  the packed feature store (``features.kelpack``) that were read through its memory map count here, though the
  kernel can drop them at any time (they are clean copies of the file);
* peak anonymous memory (RssAnon, sampled every 20 ms from /proc in a background thread): the memory only the
  process holds (heap, arrays), which nothing but swap can free -- what the < 2 GB target is judged on. A forked
  worker's figure includes the pages it shares copy-on-write with the main process.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

FULL = 176_581


def peak_mb() -> tuple[float, float]:
    """(this process, largest finished child) peak resident memory (RSS, file-backed pages included) in MB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, children


class AnonSampler:
    """Peak RssAnon (MB) of this process, of its largest child and of both together, sampled in a background
    thread from /proc (Linux; elsewhere every figure stays 0)."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.main = self.worker = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "AnonSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        main = rss_anon_mb(os.getpid())
        workers = [rss_anon_mb(pid) for pid in children(os.getpid())]
        self.main = max(self.main, main)
        self.worker = max([self.worker, *workers])
        self.total = max(self.total, main + sum(workers))


def rss_anon_mb(pid: int) -> float:
    """A process's resident anonymous memory in MB (0 when it is gone or /proc has no such line)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from every thread's /proc children list)."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in listing.read_text().split()]
        except OSError:
            continue
    return found


def sources(folder: Path, pieces: int) -> list[bytes]:
    """MIDI bytes of real pieces (converted once into ``folder``)."""
    from kel_plugin_music21_corpus.dataset import load_index

    index = load_index(folder, ["chorales"], pieces)
    return [(folder / p["midi"]).read_bytes() for p in index["pieces"] if "midi" in p]


def distinct(data: bytes, number: int) -> bytes:
    """The file with a text meta event naming ``number`` prepended to its first track (a byte-distinct copy)."""
    text = f"copy {number}".encode()
    event = b"\x00\xff\x01" + bytes([len(text)]) + text
    start = data.index(b"MTrk")
    length = int.from_bytes(data[start + 4:start + 8], "big") + len(event)
    return data[:start + 4] + length.to_bytes(4, "big") + event + data[start + 8:]


def build_tree(root: Path, files: int, pool: list[bytes]) -> float:
    started = time.perf_counter()
    for number in range(files):
        data = distinct(pool[number % len(pool)], number)
        md5 = hashlib.md5(data).hexdigest()
        target = root / "lmd_full" / md5[0] / f"{md5}.mid"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return time.perf_counter() - started


def measure(files: int, workdir: Path, source: Path, workers: int | None, pieces: int = 120,
            spill_mb: float | None = None, train: dict | None = None) -> dict:
    from kel_plugin_lakh.dataset import read_index

    pool = sources(source, min(files, pieces))
    root, cache = workdir / "lakh", workdir / "cache"
    result: dict = {"files": files, "workers": workers or os.cpu_count(), "source_pieces": len(pool)}
    result["build_s"] = build_tree(root, files, pool)
    result["tree_mb"] = sum(p.stat().st_size for p in root.rglob("*.mid")) / 1e6
    started = time.perf_counter()
    listed = len(read_index(root))
    result["index_s"] = time.perf_counter() - started
    assert listed == files, (listed, files)
    for phase in ("cold", "warm"):
        # each phase in a fresh process, so that its peak memory is its own
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result[phase] = pool.submit(prepare_phase, root, cache, workdir / f"run-{phase}", workers,
                                        spill_mb).result()
        result[phase]["files_per_s"] = files / result[phase]["seconds"]
    if train is not None:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result["train"] = pool.submit(train_phase, root, cache, workdir / "run-train", workers, spill_mb,
                                          **train).result()
    return result


def train_phase(root: Path, cache: Path, run_dir: Path, workers: int | None, spill_mb: float | None,
                batch_size: int, window: int, device: str, eval_sequences: int,
                train_sequences: int | None) -> dict:
    """Warm preparation; every batch of one epoch drawn from the store as the trainer draws them (the data path's
    time and memory at full size); then MelodyTransformer trained one epoch by the default trainer on the training
    split (or its first ``train_sequences``: a machine too slow for a full-size epoch extrapolates from it)."""
    import torch

    from kelcore.api import PreparedData, RunContext, build_model
    from kelcore.data import store as packed
    from kelcore.training.default import DefaultTrainer, DefaultTrainerOptions
    from kelcore.training.windows import TrainingWindows
    from kel_plugin_lakh import LakhDataset
    from kel_plugin_melody import MelodyTransformer

    if spill_mb is not None:
        packed.SPILL_BYTES = int(spill_mb * 2**20)
    dataset = LakhDataset(LakhDataset.Options(root=root, task="melody", cache_dir=cache, workers=workers))
    with AnonSampler() as whole:
        data = dataset.prepare(RunContext(run_dir=run_dir, seed=0, job="scale", progress=False))
        windows = TrainingWindows(data.train, window)
        with AnonSampler() as drawing:
            started = time.perf_counter()
            for index in torch.randperm(len(windows), generator=torch.Generator().manual_seed(0)).split(batch_size):
                windows.batch(index)
            draw_s = time.perf_counter() - started
        trained = data.train if train_sequences is None else data.train[:train_sequences]
        subset = PreparedData(trained, data.validation[:eval_sequences], data.test[:eval_sequences],
                              data.normalization, data.report)
        options = DefaultTrainerOptions(epochs=1, batch_size=batch_size, window=window, device=device,
                                        tensorboard=False, keep_best=0)
        model = build_model(MelodyTransformer, None, seed=0)
        with AnonSampler() as during:
            started = time.perf_counter()
            result = DefaultTrainer(options).fit(model, subset, RunContext(run_dir=run_dir / "melody", seed=0,
                                                                           job="melody", progress=False))
            fit_s = time.perf_counter() - started
    steps_per_s = result.report["train_steps_per_s"]
    fitted = len(TrainingWindows(trained, window))
    rate = fitted / (-(-fitted // batch_size) / steps_per_s)  # training windows per second
    return {"train_sequences": len(data.train), "windows": len(windows), "batch_size": batch_size, "window": window,
            "draw_s": draw_s, "peak_anon_mb_draw": drawing.main,
            "fitted_sequences": len(trained), "fitted_windows": fitted, "device": result.report["device"],
            "sequences_per_s": rate, "steps_per_s": steps_per_s, "epoch_s": len(windows) / rate, "fit_s": fit_s,
            "epoch_measured": len(trained) == len(data.train),
            "test_top1": result.test_metrics["top1"], "eval_sequences": eval_sequences,
            "peak_anon_mb_fit": during.main, "peak_anon_mb_main": whole.main, "peak_anon_mb_total": whole.total,
            "peak_mb_main": peak_mb()[0]}


def prepare_phase(root: Path, cache: Path, run_dir: Path, workers: int | None, spill_mb: float | None = None
                  ) -> dict:
    """The Lakh plugin's prepare() (index, cached parallel extraction, split); seconds, usable, peak RSS and peak
    anonymous memory, the packed store's size on disk (0: it stayed in memory, under ``spill_mb``)."""
    from kelcore.api import RunContext
    from kelcore.data import STORE_NAME, store as packed
    from kel_plugin_lakh import LakhDataset

    if spill_mb is not None:
        packed.SPILL_BYTES = int(spill_mb * 2**20)

    dataset = LakhDataset(LakhDataset.Options(root=root, task="melody", cache_dir=cache, workers=workers))
    with AnonSampler() as anon:
        started = time.perf_counter()
        data = dataset.prepare(RunContext(run_dir=run_dir, seed=0, job="scale", progress=False))
        seconds = time.perf_counter() - started
    own, child = peak_mb()
    store = run_dir / STORE_NAME
    return {"seconds": seconds, "usable": data.report.usable, "peak_mb_main": own, "peak_mb_worker": child,
            "peak_anon_mb_main": anon.main, "peak_anon_mb_worker": anon.worker, "peak_anon_mb_total": anon.total,
            "store_mb": store.stat().st_size / 1e6 if store.exists() else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--full", action="store_true", help=f"{FULL:,} files (LMD-full's size)")
    parser.add_argument("--quick", action="store_true", help="200 files from 20 chorales (the test runs this)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the tree goes (default: a temp folder)")
    parser.add_argument("--source", type=Path, default=Path(tempfile.gettempdir()) / "kel-lakh-scale-source",
                        help="folder for the converted source pieces (reused)")
    parser.add_argument("--spill-mb", type=float, default=None,
                        help="features kept in memory before the packed store goes to its file (default: kelcore's "
                             "SPILL_BYTES, 32 MiB; 0: on disk from the start, as at full size)")
    parser.add_argument("--train", action="store_true",
                        help="then train MelodyTransformer one epoch on the prepared corpus (module docstring)")
    parser.add_argument("--batch-size", type=int, default=256, help="--train: windows per step")
    parser.add_argument("--window", type=int, default=32, help="--train: time steps per window")
    parser.add_argument("--device", default="cpu", help="--train: cpu, cuda, auto, ...")
    parser.add_argument("--train-sequences", type=int, default=None,
                        help="--train: fit on the first N training sequences only (default all); every batch of the "
                             "full epoch is still drawn from the store, and the epoch time is extrapolated")
    parser.add_argument("--eval-sequences", type=int, default=2000,
                        help="--train: validation and test sequences evaluated (each split capped)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    files = FULL if args.full else 200 if args.quick else args.files
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)   # a named folder that does not exist yet is made
    workdir = Path(tempfile.mkdtemp(prefix="kel-lakh-scale-", dir=args.workdir))
    try:
        train = ({"batch_size": args.batch_size, "window": args.window, "device": args.device,
                  "eval_sequences": args.eval_sequences, "train_sequences": args.train_sequences}
                 if args.train else None)
        result = measure(files, workdir, args.source, args.workers, 20 if args.quick else 120, args.spill_mb, train)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"Lakh-layout tree of {files:,} real-derived MIDI files ({result['tree_mb']:.0f} MB, from "
          f"{result['source_pieces']} chorales), {result['workers']} workers")
    print(f"  build {result['build_s']:.1f} s, index {result['index_s']:.1f} s")
    for phase in ("cold", "warm"):
        row = result[phase]
        print(f"  {phase:4s} prepare {row['seconds']:7.1f} s  {row['files_per_s']:8.0f} files/s  usable "
              f"{row['usable']:,}  peak RSS main {row['peak_mb_main']:.0f} MB, worker {row['peak_mb_worker']:.0f} MB"
              f"  peak anon main {row['peak_anon_mb_main']:.0f} MB, worker {row['peak_anon_mb_worker']:.0f} MB, "
              f"together {row['peak_anon_mb_total']:.0f} MB  store "
              + (f"{row['store_mb']:.0f} MB on disk" if row["store_mb"] else "in memory (small)"))
    if "train" in result:
        row = result["train"]
        measured = "" if row["epoch_measured"] else (f", extrapolated from a fit on {row['fitted_sequences']:,} "
                                                     f"sequences ({row['fitted_windows']:,} windows)")
        print(f"  train MelodyTransformer one epoch on {row['device']}: {row['train_sequences']:,} sequences, "
              f"{row['windows']:,} windows of {row['window']} (batch {row['batch_size']}); every batch of the epoch "
              f"drawn from the store in {row['draw_s']:.1f} s (peak anon {row['peak_anon_mb_draw']:.0f} MB); "
              f"epoch {row['epoch_s']:.1f} s, {row['sequences_per_s']:.0f} sequences/s "
              f"({row['steps_per_s']:.2f} steps/s){measured}; fit {row['fit_s']:.1f} s (validation/test capped at "
              f"{row['eval_sequences']:,} sequences), test top-1 {row['test_top1']:.3f}; peak anon main "
              f"{row['peak_anon_mb_main']:.0f} MB (during the fit {row['peak_anon_mb_fit']:.0f} MB), with workers "
              f"{row['peak_anon_mb_total']:.0f} MB, peak RSS {row['peak_mb_main']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
