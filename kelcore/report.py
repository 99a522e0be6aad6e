"""Per-job and per-run ``report.md`` with matplotlib PNG plots.

Per job (``<job>/report.md``):

* ``curves.png`` -- training and validation loss and the headline metric per epoch, with the epoch whose
  weights were kept and, when early stopping ended the run, the epoch it stopped after;
* ``test.png`` -- what the model does on the test split. A model may draw it itself by implementing
  ``SequenceModel.plot_test(outputs, targets, figure)``; otherwise a generic picture is computed from
  outputs and targets: a row-normalised confusion matrix when the targets are class indices of a softmax,
  the expected class against the target for another softmax, else predicted against target values.

The run's ``report.md`` shows the summary table (test split, each baseline named) and links every job's.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .training.history import TrainingMetrics


def baseline_description(model_cls: Any) -> str:
    """What a model's baseline is, for the console, report.md and result.json: the first paragraph of its
    ``baseline_metrics`` docstring, joined into one line (a wrapped sentence is never cut at the line break)."""
    import inspect

    doc = inspect.cleandoc(getattr(model_cls.baseline_metrics, "__doc__", None) or "")
    first = doc.split("\n\n", 1)[0]
    return " ".join(first.split()) or f"{model_cls.__name__}.baseline_metrics"


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def plot_curves(rows: list[dict[str, float]], primary: str, best_epoch: int, stopped_epoch: int | None,
                path: Path, title: str) -> Path:
    """Loss (train, validation) and ``val_<primary>`` per epoch, with the kept and stopping epochs marked."""
    figure = _figure(10, 3.8)
    loss_ax, metric_ax = figure.subplots(1, 2)
    epochs = [int(r["epoch"]) for r in rows]
    loss_ax.plot(epochs, [r["train_loss"] for r in rows], "o-", ms=3, label="training loss")
    loss_ax.plot(epochs, [r["val_loss"] for r in rows], "o-", ms=3, label="validation loss")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss per epoch")
    key = f"val_{primary}"
    metric_ax.plot(epochs, [r.get(key, math.nan) for r in rows], "o-", ms=3, color="tab:green",
                   label=f"validation {primary}")
    metric_ax.set_xlabel("epoch")
    metric_ax.set_ylabel(primary)
    metric_ax.set_title(f"{primary} (validation) per epoch")
    for ax in (loss_ax, metric_ax):
        if best_epoch >= 1:
            ax.axvline(best_epoch, color="black", ls="--", lw=1, label=f"kept: epoch {best_epoch}")
        if stopped_epoch:
            ax.axvline(stopped_epoch, color="tab:red", ls=":", lw=1.5, label=f"early stop after epoch {stopped_epoch}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if epochs:
            from matplotlib.ticker import MaxNLocator

            ax.set_xlim(0.5, max(epochs) + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle(title)
    figure.savefig(path)
    return path


def plot_test(model: Any, outputs: torch.Tensor, targets: torch.Tensor, path: Path, title: str) -> tuple[Path, str]:
    """The model's own test picture (``plot_test`` hook) or a generic one; returns the path and a caption."""
    figure = _figure(6.5, 5.5)
    caption = None
    hook = getattr(model, "plot_test", None)
    if callable(hook):
        caption = hook(outputs, targets, figure)
    if caption is None:
        figure.clear()
        caption = _generic_test_picture(model, outputs.numpy(), targets.numpy(), figure)
    figure.suptitle(title)
    figure.savefig(path)
    return path, caption


def _names(model: Any, side: str) -> list[str]:
    try:
        return [e.name for e in getattr(type(model).feature_contract(), side)]
    except Exception:  # noqa: BLE001 - labels are a nicety
        return []


def _generic_test_picture(model: Any, outputs: np.ndarray, targets: np.ndarray, figure: Any) -> str:
    classes = outputs.shape[1]
    first = targets[:, 0] if targets.shape[1] else np.zeros(len(outputs))
    softmax = getattr(model, "output_activation", "") == "softmax"
    is_class = (len(first) > 0 and np.all(first == np.round(first)) and first.min() >= 0 and first.max() < classes)
    ax = figure.subplots()
    if softmax and is_class:
        truth = first.astype(int)
        predicted = outputs.argmax(axis=1)
        matrix = np.zeros((classes, classes))
        np.add.at(matrix, (truth, predicted), 1)
        present = matrix.sum(axis=1) > 0
        rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
        figure.colorbar(image, ax=ax, label="share of the true class's steps")
        names = _names(model, "outputs")
        if classes <= 24 and len(names) == classes:
            ax.set_xticks(range(classes), names, rotation=90, fontsize=7)
            ax.set_yticks(range(classes), names, fontsize=7)
        ax.set_xlabel("predicted class (argmax)")
        ax.set_ylabel("true class")
        accuracy = float((predicted == truth).mean())
        ax.set_title(f"confusion matrix, row-normalised; accuracy {accuracy:.3f} "
                     f"({int(present.sum())} of {classes} classes occur)", fontsize=9)
        return f"Confusion matrix of the {classes} classes on the test split (rows: true class)."
    if softmax:
        expected = outputs @ np.arange(classes)
        _scatter(ax, first, expected)
        ax.set_xlabel("target (column 0)")
        ax.set_ylabel("expected output class (probability-weighted)")
        corr = _corr(first, expected)
        ax.set_title(f"expected class vs target; correlation {corr:.3f}", fontsize=9)
        return "Probability-weighted output class against the target on every test step."
    width = min(outputs.shape[1], targets.shape[1])
    predicted, truth = outputs[:, :width].ravel(), targets[:, :width].ravel()
    _scatter(ax, truth, predicted)
    low, high = float(min(truth.min(), predicted.min())), float(max(truth.max(), predicted.max()))
    ax.plot([low, high], [low, high], color="black", lw=1, ls="--", label="prediction = target")
    ax.legend(fontsize=8)
    ax.set_xlabel(f"target (columns 0..{width - 1})")
    ax.set_ylabel(f"output (columns 0..{width - 1})")
    ax.set_title(f"predicted vs target; mean |error| {float(np.abs(predicted - truth).mean()):.4f}", fontsize=9)
    return f"Predicted against target for output columns 0..{width - 1} on every test step."


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 2 or np.std(a) == 0 or np.std(b) == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def _scatter(ax: Any, x: np.ndarray, y: np.ndarray, limit: int = 20_000) -> None:
    if len(x) > limit:
        pick = np.random.default_rng(0).choice(len(x), limit, replace=False)
        x, y = x[pick], y[pick]
    few = len(x) < 2_000
    ax.scatter(x, y, s=10 if few else 4, alpha=0.7 if few else 0.25, edgecolors="none")
    ax.grid(alpha=0.3)


def _metric_table(record: dict[str, Any]) -> list[str]:
    lines = ["| metric | model | baseline |", "|---|---:|---:|"]
    for key, value in record["test_metrics"].items():
        base = record["baseline_metrics"].get(key)
        lines.append(f"| {key} | {value:.4f} | {'' if base is None else f'{base:.4f}'} |")
    for key, base in record["baseline_metrics"].items():  # the baselines' own figures (majority_*, ...)
        if key not in record["test_metrics"]:
            lines.append(f"| {key} | | {base:.4f} |")
    return lines


def write_job_report(job_dir: Path, record: dict[str, Any], model: Any, outputs: torch.Tensor | None,
                     targets: torch.Tensor | None) -> Path:
    """``<job>/report.md`` with ``curves.png`` (if the trainer logged epochs) and ``test.png``."""
    job_dir = Path(job_dir)
    report = record.get("report", {})
    primary = report.get("primary_metric", "")
    split = report.get("evaluated_on", "test")
    lines = [f"# {record['job']}: {record['spec']} ({record['model']}) on {record['dataset']}", "",
             f"Data: **{record.get('provenance', 'not recorded')}**.", ""]
    verdict = "beats" if record["beats_baseline"] else "does NOT beat"
    lines += [f"On the **{split} split** the model {verdict} its baseline on `{primary}` "
              f"({'higher' if report.get('higher_is_better') else 'lower'} is better).", "",
              f"Baseline: {report.get('baseline', 'the model plugin’s baseline_metrics')}", ""]
    lines += _metric_table(record) + [""]
    lines += [f"Training: {record['epochs']} epoch(s) on {report.get('device', 'cpu')}, "
              f"{record['stopped_reason']}; the weights of epoch {record['best_epoch']} are kept "
              f"and exported. Evaluation ran on the CPU in float32.", ""]
    metrics_file = next((p for p in (job_dir / "metrics.csv", job_dir / "metrics.jsonl") if p.exists()), None)
    if metrics_file is not None and (rows := TrainingMetrics.read(metrics_file)):
        stopped = record["epochs"] if record["stopped_reason"].startswith("early stopping") else None
        plot_curves(rows, primary, record["best_epoch"], stopped, job_dir / "curves.png",
                    f"{record['job']}: {record['spec']}")
        lines += ["## Curves", "", "![loss and metric per epoch](curves.png)", "",
                  f"Per-epoch numbers: [{metrics_file.name}]({metrics_file.name}). "
                  + ("TensorBoard: `tensorboard --logdir " + str(job_dir / "tensorboard") + "`"
                     if (job_dir / "tensorboard").exists() else ""), ""]
    if outputs is not None and targets is not None and len(outputs):
        _, caption = plot_test(model, outputs, targets, job_dir / "test.png",
                               f"{record['job']}: {record['spec']} on the {split.split()[0]} split")
        lines += [f"## What the model does on the {split.split()[0]} split", "", "![test split](test.png)", "",
                  caption, ""]
    path = job_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _cell(text: str) -> str:
    """``text`` fit for one Markdown table cell (one line, no column separator)."""
    return " ".join(str(text).split()).replace("|", "\\|")


def write_run_report(run_dir: Path, records: list[dict[str, Any]], table: str) -> Path:
    """The run's ``report.md``: the summary table and a link to every job's report and plots."""
    run_dir = Path(run_dir)
    lines = [f"# Run {run_dir.name}", "", "Every figure is measured on the **test split** (a job with an empty "
             "test split says so), against the baseline named in its row.", "",
             "| job | model | metric | model | baseline | verdict | baseline is | data |",
             "|---|---|---|---:|---:|---|---|---|"]
    for rec in records:
        if rec.get("status", "ok") != "ok":  # a failed job, or one not run yet: its outcome, in its row
            lines.append(f"| {rec['job']} | {rec.get('spec', '')} | | | | **{rec['status']}**: "
                         f"{_cell(rec.get('error', ''))} | | |")
            continue
        key = rec["report"]["primary_metric"]
        verdict = "beats baseline" if rec["beats_baseline"] else "**does not beat the baseline**"
        data = rec.get("provenance", "not recorded")
        lines.append(f"| [{rec['job']}]({rec['job']}/report.md) | {rec['spec']} | {key} | "
                     f"{rec['test_metrics'][key]:.4f} | {rec['baseline_metrics'][key]:.4f} | {verdict} | "
                     f"{rec['report'].get('baseline', '')} | {data} |")
        for name, value in rec["baseline_metrics"].items():  # the baselines' own figures for this metric
            if name not in rec["test_metrics"] and name.endswith(f"_{key}"):
                lines.append(f"| | | {name} | | {value:.4f} | baseline only | | {data} |")
    lines += ["", "```", table, "```", ""]
    for rec in records:
        job = rec["job"]
        if rec.get("status", "ok") != "ok":
            lines += [f"## {job}", "", f"**{rec['status']}**: {rec.get('error', '')}", ""]
            continue
        lines += [f"## {job}", "", f"[report]({job}/report.md) · [metrics]({job}/metrics.csv)", ""]
        for picture in ("curves.png", "test.png"):
            if (run_dir / job / picture).exists():
                lines += [f"![{job} {picture}]({job}/{picture})", ""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
