"""``hostbench run``: every engine on the exported models, the native real-time path, the budgets, the report."""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from . import engines as py_engines
from . import inputs, native

MODEL_ORDER = ["EmotionRecognizer", "MelodyTransformer", "HarmonyPredictor", "DynamicsEngine", "GroovePredictor"]
DEFAULT_RATES = (44_100, 48_000)
DEFAULT_BLOCKS = (64, 128, 256, 512, 1024)
QUICK_RATES = (48_000,)
QUICK_BLOCKS = (128, 1024)
NOT_BUILT_ENV = "not built: set RTNEURAL_DIR"


class NoModels(ValueError):
    """The models folder holds no exported model (bad input)."""


@dataclass
class Settings:
    models_dir: Path
    out: Path
    audio: Path | None = None
    midi: Path | None = None
    quick: bool = False
    budget_ms: float = 10.0
    budget_weights_mb: float = 4.0
    iterations: int | None = None
    seconds: float | None = None
    rates: tuple[int, ...] | None = None
    blocks: tuple[int, ...] | None = None
    engines: tuple[str, ...] = ("numpy", "torch", "native")
    rtneural_dir: Path | None = None
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.iterations = self.iterations or (200 if self.quick else 2000)
        self.seconds = self.seconds or (1.0 if self.quick else 4.0)
        self.rates = tuple(self.rates or (QUICK_RATES if self.quick else DEFAULT_RATES))
        self.blocks = tuple(self.blocks or (QUICK_BLOCKS if self.quick else DEFAULT_BLOCKS))


def _weight_elements(layer: dict[str, Any]) -> int:
    return sum(int(np.asarray(w, dtype=np.float32).size) for w in layer.get("weights", []))


def load_models(models_dir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every exported model file of the folder, by its metadata.model (files without one are ignored)."""
    found = {}
    for path in sorted(Path(models_dir).glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(document, dict) and "layers" in document and "metadata" in document:
            found[document["metadata"].get("model", path.stem)] = (path, document)
    return dict(sorted(found.items(), key=lambda kv: (MODEL_ORDER.index(kv[0]) if kv[0] in MODEL_ORDER else 99,
                                                      kv[0])))


def model_facts(path: Path, document: dict[str, Any]) -> dict[str, Any]:
    meta = document["metadata"]
    weights = sum(_weight_elements(layer) for layer in document["layers"])
    state = 0
    for layer in document["layers"]:
        size = int(layer["shape"][-1])
        state += {"lstm": 2 * size, "gru": size}.get(layer["type"], 0) * 4
    return {"file": str(path), "file_bytes": path.stat().st_size, "parameters": meta.get("trainable_parameters"),
            "spec_parameters": meta.get("spec", {}).get("param_count"), "weight_bytes": weights * 4,
            "state_bytes": state, "contract_version": meta.get("feature_contract", {}).get("version"),
            "run_id": meta.get("run_id"), "weights_sha256": meta.get("weights_sha256")}


def weights_mismatch(document: dict[str, Any]) -> str | None:
    """Why the file's weights are not the ones exported (``metadata.weights_sha256`` differs), or None. A file
    without the hash is not judged by it."""
    from kel_plugin_rtneural.writer import weights_sha256

    recorded = (document.get("metadata") or {}).get("weights_sha256")
    if not recorded:
        return None
    try:
        actual = weights_sha256(document["layers"])
    except Exception as exc:  # noqa: BLE001 - weights that cannot even be hashed do not match
        return f"weights unreadable ({exc})"
    if actual != recorded:
        return (f"metadata.weights_sha256 {recorded[:12]}… does not match the weights ({actual[:12]}…): the file "
                "was edited after export; not timed")
    return None


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in ("kel-hostbench", "kelcore", "kel-plugin-rtneural", "kel-contracts", "numpy", "torch", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(), "python": sys.version.split()[0],
            "versions": versions}


def python_engine(kind: str, models: dict[str, tuple[Path, dict[str, Any]]], settings: Settings) -> dict[str, Any]:
    import torch

    cls = py_engines.ENGINES[kind]
    row: dict[str, Any] = {"engine": kind, "name": cls.name, "kind": "python", "api": cls.name, "flags": None,
                           "status": "ok", "models": {}}
    threads = torch.get_num_threads()
    if kind == "torch":   # one intra-op thread, as a plugin's inference thread would run it
        torch.set_num_threads(1)
        row["flags"] = f"torch {torch.__version__} eager, torch.no_grad, 1 intra-op thread"
    loaded = {}
    for name, (path, document) in models.items():
        entry: dict[str, Any] = {}
        try:
            engine = cls(document)
            entry["replay_error"] = py_engines.replay_error(engine, document)
            entry["memory_bytes"] = engine.memory_bytes()
            loaded[name] = engine
        except Exception as exc:  # noqa: BLE001 - a file an engine cannot load is that row's failure
            entry.update(replay_error=None, memory_bytes=None, error=f"{type(exc).__name__}: {exc}")
        row["models"][name] = entry
    per_model, total = py_engines.time_pipeline(loaded, {n: models[n][1] for n in loaded}, settings.iterations)
    for name, samples in per_model.items():
        row["models"][name]["step_us"] = py_engines.stats(samples)
    row["pipeline_us"] = py_engines.stats(total)
    torch.set_num_threads(threads)
    return row


def native_rows(models: dict[str, tuple[Path, dict[str, Any]]], settings: Settings, work: Path
                ) -> tuple[list[dict[str, Any]], dict[str, Path], str | None]:
    """The four native rows (API x flags); the binaries; why nothing native ran (or None)."""
    has_header = (settings.models_dir / "KelModels.h").exists()
    rows = []
    for flags in native.FLAG_SETS:
        for api in native.APIS:
            rows.append({"engine": f"rtneural-{api}-{flags}", "kind": "native", "api": api,
                         "name": f"RTNeural {'dynamic API' if api == 'dynamic' else 'ModelT'} ({flags} flags)",
                         "flags": " ".join([*native.COMMON, *native.FLAG_SETS[flags]]), "status": "ok", "models": {}})
    if settings.rtneural_dir is None:
        for row in rows:
            row["status"] = NOT_BUILT_ENV
        return rows, {}, NOT_BUILT_ENV
    try:
        binaries = native.build_all(settings.rtneural_dir, settings.models_dir)
    except native.BuildError as exc:
        settings.failures.append(f"native host: {exc}")
        for row in rows:
            row["status"] = f"not built: {str(exc).splitlines()[0]}"
        return rows, {}, "not built: the native host did not compile"
    files = [path for path, _ in models.values()]
    for row in rows:
        flags = row["engine"].rsplit("-", 1)[1]
        if row["api"] == "modelt" and not has_header:
            row["status"] = (f"not built: {settings.models_dir} has no KelModels.h (export with "
                             "`kelcore export ... --cpp`)")
            continue
        checks = native.verify(binaries[flags], files)
        measured = native.bench(binaries[flags], row["api"], settings.iterations, files)
        by_file = {Path(m["file"]).name: m for m in measured["models"]}
        row["pipeline_us"] = measured["pipeline_us"]
        for name, (path, _) in models.items():
            check, figures = checks[path.name], by_file.get(path.name, {})
            error = check.get(row["api"])
            row["models"][name] = {"replay_error": float("inf") if error is None and figures.get("built") is False
                                   else error, "memory_bytes": figures.get("heap_bytes"),
                                   "step_us": figures.get("step_us")}
            if "error" in check:
                row["models"][name]["error"] = check["error"]
    return rows, binaries, None


def native_pipeline(models: dict[str, tuple[Path, dict[str, Any]]], settings: Settings, binaries: dict[str, Path],
                    work: Path, song: dict[str, Any]) -> dict[str, Any]:
    has_header = (settings.models_dir / "KelModels.h").exists()
    api = "modelt" if has_header else "dynamic"
    missing = [m for m in MODEL_ORDER if m not in models]
    sweep: dict[str, Any] = {"api": api, "flags": " ".join([*native.COMMON, *native.FLAG_SETS["native"]]),
                             "seconds_per_run": settings.seconds, "runs": [], "engines_at_48k_256": []}
    if missing:
        # the simulated plugin path runs the five models together; the models present are still benchmarked
        sweep["status"] = (f"not run: {settings.models_dir} has no file for {', '.join(missing)} (the plugin's "
                           "path runs all five; each model present is timed in the engine rows)")
        return sweep
    sweep["status"] = "ok"
    files = [models[m][0] for m in MODEL_ORDER]
    raw: dict[int, tuple[Path, int]] = {}
    for rate in sorted({*settings.rates, 48_000}):
        path, channels, described = inputs.audio_at(Path(song["audio"]["file"]), rate, settings.seconds,
                                                    work / f"audio_{rate}.f32")
        raw[rate] = (path, channels)
        song["audio"].setdefault("delivered", []).append(described)
    notes = Path(song["midi"]["notes_file"])
    for rate in settings.rates:
        for block in settings.blocks:
            path, channels = raw[rate]
            sweep["runs"].append(native.pipeline(binaries["native"], api, rate, block, settings.seconds, path,
                                                 channels, notes, files))
    if not settings.quick:   # every other native engine through the same path, one host configuration
        path, channels = raw[48_000]
        for flags in native.FLAG_SETS:
            for other in native.APIS:
                if (other, flags) == (api, "native") or (other == "modelt" and not has_header):
                    continue
                run = native.pipeline(binaries[flags], other, 48_000, 256, settings.seconds, path, channels, notes,
                                      files)
                run["engine"] = f"rtneural-{other}-{flags}"
                sweep["engines_at_48k_256"].append(run)
    return sweep


def judge(report: dict[str, Any], settings: Settings) -> None:
    """Verdict per row and model, failures collected. The verdict is on what the plugin runs: the native rows
    (reference replay, latency budgets, audio-thread allocations). The numpy and PyTorch rows are references:
    their replay must match (the file is wrong otherwise) but their latency never fails a run. A run in which no
    native engine was measured, or a file whose weight hash does not match, is a FAIL."""
    budget_us = settings.budget_ms * 1000.0
    budget_bytes = settings.budget_weights_mb * 1e6
    failures = settings.failures
    for name, facts in report["models"].items():
        facts["within_weight_budget"] = facts["weight_bytes"] <= budget_bytes
        if not facts["within_weight_budget"]:
            failures.append(f"{name}: {facts['weight_bytes'] / 1e6:.2f} MB of weights > budget "
                            f"{settings.budget_weights_mb:g} MB")
        if facts.get("weights_check"):
            failures.append(f"{name}: {facts['weights_check']}")
    for row in report["engines"]:
        if row["status"] != "ok":
            for name in report["models"]:
                row["models"].setdefault(name, {})["verdict"] = row["status"]
            continue
        judged = row["kind"] == "native"   # latency judged where the plugin runs it
        pipeline = row.get("pipeline_us") or {}
        row["within_pipeline_budget"] = pipeline.get("p99") is not None and pipeline["p99"] <= budget_us
        if judged and not row["within_pipeline_budget"]:
            failures.append(f"{row['engine']}: full pipeline p99 {(pipeline.get('p99') or float('nan')) / 1000:.3f} ms"
                            f" > budget {settings.budget_ms:g} ms")
        for name, facts in report["models"].items():
            if facts.get("weights_check"):
                row["models"][name] = {"reference": "FAIL", "verdict": f"FAIL: {facts['weights_check']}"}
        for name, entry in row["models"].items():
            if report["models"][name].get("weights_check"):
                continue
            error = entry.get("replay_error")
            passed = error is not None and error <= py_engines.TOLERANCE
            entry["reference"] = "PASS" if passed else "FAIL"
            reasons = [] if passed else [f"reference replay max |diff| = {error if error is not None else 'n/a'}"]
            if not report["models"][name]["within_weight_budget"]:
                reasons.append("weights over budget")
            step = (entry.get("step_us") or {}).get("p99")
            if judged and step is not None and step > budget_us:
                reasons.append("step p99 over the pipeline budget")
            if judged and not row["within_pipeline_budget"]:
                reasons.append("full pipeline over budget")
            entry["verdict"] = ("PASS" if judged else "PASS (reference; latency not judged)") if not reasons \
                else "FAIL: " + "; ".join(reasons)
            if not passed:
                failures.append(f"{row['engine']} {name}: {entry.get('error') or reasons[0]}")
    native_ok = [row for row in report["engines"] if row["kind"] == "native" and row["status"] == "ok"]
    if not native_ok:
        why = next((row["status"] for row in report["engines"] if row["kind"] == "native"),
                   "the native engine was not asked for (--engines)")
        measured = [row["engine"] for row in report["engines"] if row["status"] == "ok"]
        failures.insert(0, f"nothing the plugin runs was measured (native RTNeural: {why})"
                        + (f"; the {', '.join(measured)} rows are references only" if measured
                           else "; no engine was measured"))
    sweep = report.get("native_pipeline", {})
    for run in [*sweep.get("runs", []), *sweep.get("engines_at_48k_256", [])]:
        where = f"native pipeline {run.get('engine', sweep.get('api'))} {run['rate']:g} Hz / {run['block']} frames"
        if run["audio_thread_allocations"] != 0:
            failures.append(f"{where}: {run['audio_thread_allocations']} heap allocations on the audio thread")
        worst = sum((m["infer_us"]["p99"] or 0.0) for m in run["models"].values())
        run["pipeline_p99_sum_us"] = worst
        if worst > budget_us:
            failures.append(f"{where}: the five models' p99 inference times sum to {worst / 1000:.3f} ms > "
                            f"{settings.budget_ms:g} ms")
        if run.get("contract_errors"):
            run["contract_note"] = run["contract_errors"]


def run(settings: Settings) -> tuple[int, dict[str, Any]]:
    """Measure, judge, write report.json / report.md / latency.png; (exit code, report)."""
    from .report import write_reports

    out = settings.out
    out.mkdir(parents=True, exist_ok=True)
    work = out / "inputs"
    work.mkdir(exist_ok=True)
    started = time.time()
    models = load_models(settings.models_dir)
    if not models:
        raise NoModels(f"{settings.models_dir} holds no exported model (*.json with metadata)")
    facts = {name: model_facts(path, document) for name, (path, document) in models.items()}
    for name, (_, document) in models.items():  # a file whose weights were edited is failed before any timing
        if (why := weights_mismatch(document)) is not None:
            facts[name]["weights_check"] = why
    timed = {name: entry for name, entry in models.items() if not facts[name].get("weights_check")}
    report: dict[str, Any] = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "models_dir": str(settings.models_dir),
        "machine": machine(), "quick": settings.quick, "iterations": settings.iterations,
        "budgets": {"pipeline_ms": settings.budget_ms, "weights_mb_per_model": settings.budget_weights_mb},
        "models": facts, "engines": [],
    }
    for kind in ("numpy", "torch"):
        if kind in settings.engines:
            report["engines"].append(python_engine(kind, timed, settings))
    if "native" in settings.engines:
        audio = settings.audio or inputs.synthesize_audio(work / "test_signal.wav",
                                                          seconds=max(settings.seconds, 2.0) + 0.5)
        midi = settings.midi or inputs.generate_midi(work / "test_song.mid")
        song = {"audio": {"file": str(audio), "synthesized": settings.audio is None},
                "midi": {**inputs.midi_notes(midi, work / "notes.txt"), "generated": settings.midi is None,
                         "notes_file": str(work / "notes.txt")}}
        report["song"] = song
        rows, binaries, why = native_rows(timed, settings, work)
        report["engines"] += rows
        if binaries:
            report["native"] = {"compiler": native.compiler_version(), "rtneural_dir": str(settings.rtneural_dir),
                                "rtneural_commit": native.rtneural_commit(settings.rtneural_dir),
                                "builds": {flags: " ".join(native.compile_flags(settings.rtneural_dir,
                                                                                settings.models_dir, flags))
                                           for flags in native.FLAG_SETS}}
            report["native_pipeline"] = native_pipeline(timed, settings, binaries, work, song)
        else:
            report["native_pipeline"] = {"status": why, "runs": [], "engines_at_48k_256": []}
    judge(report, settings)
    report["failures"] = settings.failures
    report["verdict"] = "FAIL" if settings.failures else "PASS"
    report["elapsed_s"] = round(time.time() - started, 1)
    write_reports(report, out)
    return (1 if settings.failures else 0), report
