"""report.json (every figure), report.md (tables against the budget, the buffer-size sweep), latency.png."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def _us(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.1f}" if value < 10_000 else f"{value:,.0f}"


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value / 1e6:.2f}"


def _err(value: float | None) -> str:
    if value is None:
        return "–"
    return "inf" if not math.isfinite(value) else f"{value:.2g}"


def markdown(report: dict[str, Any]) -> str:
    budgets = report["budgets"]
    lines = [f"# hostbench: {report['models_dir']}", "",
             f"**{report['verdict']}**: budgets {budgets['pipeline_ms']:g} ms per full pipeline (one step of every "
             f"model, p99) and {budgets['weights_mb_per_model']:g} MB of float32 weights per model; every engine "
             "first replays each file's `metadata.reference` (tolerance 1e-5).", ""]
    if report["failures"]:
        lines += ["Failures:", ""] + [f"- {failure}" for failure in report["failures"]] + [""]
    m = report["machine"]
    lines += [f"Machine: {m['cpu']}, {m['cores']} cores, {m['platform']}, Python {m['python']}, "
              f"torch {m['versions'].get('torch')}, numpy {m['versions'].get('numpy')}."]
    if "native" in report:
        n = report["native"]
        lines += [f"Native: {n['compiler']}, RTNeural {n['rtneural_commit']} at `{n['rtneural_dir']}`."]
    lines += ["", "## Models", "", "| model | parameters | spec | weights MB | state bytes | file MB | contract |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for name, f in report["models"].items():
        lines.append(f"| {name} | {f['parameters']:,} | {f['spec_parameters'] or '–'} | {_mb(f['weight_bytes'])} | "
                     f"{f['state_bytes']:,} | {_mb(f['file_bytes'])} | {f['contract_version']} |")
    lines += ["", "## Engines", "",
              "Per engine, each model timed one step at a time in a warm loop, the five in turn (µs). Memory: "
              "what the loaded model holds (native: heap bytes counted by the host's operator new; Python: arrays "
              "or tensors).", ""]
    for row in report["engines"]:
        lines += [f"### {row['name']}", ""]
        if row.get("flags"):
            lines += [f"Flags: `{row['flags']}`", ""]
        if row["status"] != "ok":
            lines += [f"**{row['status']}**", ""]
            continue
        p = row.get("pipeline_us") or {}
        lines += [f"Full pipeline (five steps): p50 {_us(p.get('p50'))} µs, p99 {_us(p.get('p99'))} µs, max "
                  f"{_us(p.get('max'))} µs, budget {budgets['pipeline_ms'] * 1000:,.0f} µs.", "",
                  "| model | reference error | p50 µs | p99 µs | max µs | memory MB | verdict |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for name, e in row["models"].items():
            s = e.get("step_us") or {}
            lines.append(f"| {name} | {_err(e.get('replay_error'))} | {_us(s.get('p50'))} | {_us(s.get('p99'))} | "
                         f"{_us(s.get('max'))} | {_mb(e.get('memory_bytes'))} | {e.get('verdict', '')} |")
        lines.append("")
    sweep = report.get("native_pipeline")
    if sweep is not None:
        lines += ["## The plugin's path, natively", ""]
        if sweep.get("status") != "ok":
            lines += [f"**{sweep.get('status')}**", ""]
        else:
            song = report.get("song", {})
            midi = song.get("midi", {})
            lines += [f"An audio thread delivers `{song.get('audio', {}).get('file')}` in host-sized blocks at "
                      f"real-time pace ({sweep['seconds_per_run']:g} s per configuration) and computes the "
                      "features in the callback (kel::EmotionFeatures; Melody, Harmony, Dynamics and Groove "
                      f"features from `{midi.get('file')}`: {midi.get('pitched_notes')} notes, "
                      f"{midi.get('drum_hits')} drum hits, {midi.get('qpm', 0):.0f} qpm); a lock-free SPSC queue "
                      "(256 jobs) feeds an inference thread that runs the five models; the callback picks up the "
                      "newest result of each model without waiting (triple buffer). State is reset at the song's "
                      f"start. Engine: RTNeural {sweep['api']}, `{sweep['flags']}`.", "",
                      "| rate | block | deadline µs | callback p50 | p99 | max | misses | overruns | audio-thread "
                      "allocations | queue drops | RSS growth kB |",
                      "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for r in sweep["runs"]:
                c = r["callback_us"]
                lines.append(f"| {r['rate']:g} | {r['block']} | {_us(r['deadline_us'])} | {_us(c['p50'])} | "
                             f"{_us(c['p99'])} | {_us(c['max'])} | {r['deadline_misses']} | {r['overruns']} | "
                             f"{r['audio_thread_allocations']} | {r['queue_drops']} | {r['rss_growth_bytes'] / 1024:.0f} |")
            lines += ["", "Misses: a callback that finished after its block's deadline (scheduled start + "
                      "frames / rate); overruns: a callback that took longer than frames / rate.", "",
                      "Per model, over the whole sweep (inference on the inference thread; latency from the callback "
                      "that delivered the input to the callback that sees the result):", "",
                      "| model | results/s | inference p50 µs | p99 | max | latency p50 µs | p99 | max | heap MB |",
                      "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for name in sweep["runs"][0]["models"] if sweep["runs"] else []:
                per = [r["models"][name] for r in sweep["runs"]]
                rate = sum(p["results_per_s"] or 0 for p in per) / len(per)
                worst = lambda key, q: max((p[key][q] for p in per if p[key][q] is not None), default=None)  # noqa: E731
                lines.append(f"| {name} | {rate:.1f} | {_us(worst('infer_us', 'p50'))} | "
                             f"{_us(worst('infer_us', 'p99'))} | {_us(worst('infer_us', 'max'))} | "
                             f"{_us(worst('latency_us', 'p50'))} | {_us(worst('latency_us', 'p99'))} | "
                             f"{_us(worst('latency_us', 'max'))} | {_mb(per[0]['heap_bytes'])} |")
            lines += ["", "(worst configuration's figure per column)", ""]
            if sweep.get("engines_at_48k_256"):
                lines += ["The other native engines through the same path at 48 kHz / 256 frames (inference p99 µs):",
                          "", "| engine | " + " | ".join(sweep["runs"][0]["models"]) + " | callback p99 µs | "
                          "audio-thread allocations |", "|---|" + "---:|" * (len(sweep["runs"][0]["models"]) + 2)]
                for r in sweep["engines_at_48k_256"]:
                    lines.append(f"| {r['engine']} | " + " | ".join(_us(m["infer_us"]["p99"]) for m in
                                                                    r["models"].values())
                                 + f" | {_us(r['callback_us']['p99'])} | {r['audio_thread_allocations']} |")
                lines.append("")
    lines += ["![latency](latency.png)", "", "Every figure: [report.json](report.json).", ""]
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["engines"] if r["status"] == "ok"]
    models = list(report["models"])
    sweep = report.get("native_pipeline") or {}
    runs = sweep.get("runs") or []
    fig, axes = plt.subplots(1, 2 if runs else 1, figsize=(15 if runs else 9, max(4.5, 0.32 * len(rows) * len(models))),
                             squeeze=False)
    ax = axes[0][0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    y, ticks, labels = 0, [], []
    for m_index, name in enumerate(models):
        for r_index, row in enumerate(rows):
            stats = row["models"].get(name, {}).get("step_us") or {}
            q = stats.get("quantiles") or []
            if q:
                colour = colours[r_index % len(colours)]
                ax.plot([q[1], q[-1]], [y, y], color=colour, lw=1.2)
                ax.plot([q[12], q[38]], [y, y], color=colour, lw=5, alpha=0.6, solid_capstyle="butt")
                ax.plot(stats["p50"], y, "o", color=colour, ms=5)
                ax.plot(stats["p99"], y, "|", color="black", ms=10, mew=2)
                ticks.append(y)
                labels.append(f"{name} · {row['engine']}")
            y += 1
        y += 0.8
    ax.axvline(report["budgets"]["pipeline_ms"] * 1000, color="red", ls="--",
               label=f"budget {report['budgets']['pipeline_ms']:g} ms (full pipeline)")
    ax.set_xscale("log")
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("µs per step (log): line 2nd percentile–max, bar 25–75 %, dot p50, tick p99")
    ax.set_title("Inference time per model and engine")
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if runs:
        ax = axes[0][1]
        for k, rate in enumerate(sorted({r["rate"] for r in runs})):
            mine = sorted((r for r in runs if r["rate"] == rate), key=lambda r: r["block"])
            blocks = [r["block"] for r in mine]
            colour = colours[k % len(colours)]
            ax.plot(blocks, [r["callback_us"]["p50"] for r in mine], "o-", color=colour, label=f"{rate / 1000:g} kHz p50")
            ax.plot(blocks, [r["callback_us"]["p99"] for r in mine], "s--", color=colour, label=f"{rate / 1000:g} kHz p99")
            ax.plot(blocks, [r["callback_us"]["max"] for r in mine], "^:", color=colour, label=f"{rate / 1000:g} kHz max")
            ax.plot(blocks, [r["deadline_us"] for r in mine], "-", color=colour, lw=3, alpha=0.35,
                    label=f"{rate / 1000:g} kHz deadline (frames / rate)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(sorted({r["block"] for r in runs}), [str(b) for b in sorted({r["block"] for r in runs})])
        ax.set_xlabel("block size (frames)")
        ax.set_ylabel("audio callback time (µs, log)")
        ax.set_title(f"Audio callback vs deadline (RTNeural {sweep['api']}, native flags)")
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else "inf"
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def write_reports(report: dict[str, Any], out: Path) -> None:
    (out / "report.json").write_text(json.dumps(_clean(report), indent=1) + "\n", encoding="utf-8")
    (out / "report.md").write_text(markdown(report), encoding="utf-8")
    plot(report, out / "latency.png")
