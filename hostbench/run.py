"""The plugin-host benchmark: the exported models against the plugin's real-time budget.

    python hostbench/run.py [--models DIR] [--iterations N]

Without ``--models`` it exports the five models untrained (seed 0) into a temp
folder. With ``RTNEURAL_DIR`` set (a checkout of jatinchowdhury18/RTNeural) it
builds ``host.cpp`` against it and measures RTNeural itself (dynamic and
compile-time ModelT APIs) after proving each file's reference snapshot; the numpy
reference engine of kel-plugin-rtneural is timed in the same run as the baseline.
Budget per model: < 10 ms per inference and < 4 MB of weights.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kel_plugin_rtneural import load_model

HERE = Path(__file__).resolve().parent
BUDGET_MS = 10.0
BUDGET_MB = 4.0


def compile_flags(rtneural_dir: Path, header_dir: Path) -> list[str]:
    """g++ flags for RTNeural's default Eigen backend, as its CMake sets them."""
    return ["-std=c++17", "-O2", "-DRTNEURAL_USE_EIGEN=1", "-DRTNEURAL_DEFAULT_ALIGNMENT=16",
            "-DEIGEN_STACK_ALLOCATION_LIMIT=0", f"-I{rtneural_dir}", f"-I{rtneural_dir / 'modules' / 'Eigen'}",
            f"-I{header_dir}"]


def build_host(rtneural_dir: Path, header_dir: Path, out: Path) -> Path:
    """Compile host.cpp against RTNeural and the exported KelModels.h; returns the binary."""
    compiler = shutil.which("g++")
    if compiler is None:
        raise RuntimeError("g++ not found")
    if not (rtneural_dir / "RTNeural" / "RTNeural.h").exists():
        raise RuntimeError(f"RTNEURAL_DIR={rtneural_dir} has no RTNeural/RTNeural.h: point it at an RTNeural checkout")
    command = [compiler, *compile_flags(rtneural_dir, header_dir), str(HERE / "host.cpp"), "-o", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building {out.name} failed:\n{result.stderr[-4000:]}")
    return out


def export_untrained(out: Path) -> None:
    kelcore = Path(sys.executable).with_name("kelcore")
    subprocess.run([str(kelcore), "export", "--untrained", "--seed", "0", "--out", str(out), "--cpp-header"],
                   check=True, stdout=subprocess.DEVNULL)


def reference_engine_us(path: Path, iterations: int) -> float:
    """Median µs per step of the numpy reference engine (the baseline)."""
    engine = load_model(path)
    inputs = np.asarray(json.loads(path.read_text())["metadata"]["reference"]["inputs"], np.float32)
    times = []
    for i in range(iterations):
        start = time.perf_counter()
        engine.step(inputs[i % len(inputs)])
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e6)


def parse_host_lines(text: str) -> dict[str, dict[str, str]]:
    """``FILE key value key value ...`` lines of the host program, by file name."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if parts:
            rows[Path(parts[0]).name] = dict(zip(parts[1::2], parts[2::2]))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, help="folder of exported *.json (+ KelModels.h)")
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models or Path(tmp) / "models"
        if args.models is None:
            export_untrained(models)
        files = sorted(models.glob("*.json"))
        native, verify, note = {}, {}, ""
        rtneural = os.environ.get("RTNEURAL_DIR")
        if not rtneural:
            note = "native RTNeural skipped: set RTNEURAL_DIR to an RTNeural checkout"
        elif not (models / "KelModels.h").exists():
            note = f"native RTNeural skipped: {models}/KelModels.h missing (export with --cpp-header)"
        else:
            host = build_host(Path(rtneural), models, Path(tmp) / "host")
            verify = parse_host_lines(subprocess.run([str(host), "verify", *map(str, files)], capture_output=True,
                                                     text=True).stdout)
            native = parse_host_lines(subprocess.run([str(host), "bench", str(args.iterations), *map(str, files)],
                                                     capture_output=True, text=True, check=True).stdout)
        print(f"{'model':<20}{'RTNeural µs':>12}{'ModelT µs':>11}{'p99 µs':>9}{'numpy µs':>10}{'speed-up':>9}"
              f"{'weights MB':>11}{'file MB':>9}{'ref err':>10}  budget")
        for path in files:
            name = path.name
            meta = json.loads(path.read_text())["metadata"]
            weights_mb = meta["trainable_parameters"] * 4 / 1e6
            baseline = reference_engine_us(path, min(args.iterations, 500))
            row = native.get(name, {})
            dynamic = float(row.get("dynamic_median_us", "nan"))
            modelt = float(row.get("modelt_median_us", "nan"))
            p99 = max(float(row.get("dynamic_p99_us", "nan")), float(row.get("modelt_p99_us", "nan")))
            error = verify.get(name, {}).get("dynamic", "n/a")
            worst_ms = (p99 if row else baseline) / 1000
            ok = worst_ms < BUDGET_MS and weights_mb < BUDGET_MB and (not verify or verify[name].get("modelt") is not None)
            print(f"{meta['model']:<20}{dynamic:>12.1f}{modelt:>11.1f}{p99:>9.1f}{baseline:>10.1f}"
                  f"{baseline / dynamic if row else float('nan'):>8.0f}x{weights_mb:>11.2f}"
                  f"{path.stat().st_size / 1e6:>9.2f}{error:>10}  {'PASS' if ok else 'FAIL'}")
        if note:
            print(note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
