"""Building models reproducibly, and reading trained models back from run directories."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .components import ExportContext, Options, SequenceModel
from .io import write_json_atomic


def build_model(cls: type[SequenceModel], options: Options | dict[str, Any] | None = None, seed: int = 0) -> SequenceModel:
    """Construct ``cls`` with weights drawn from ``seed`` (same seed, same weights),
    without disturbing the caller's global RNG. Returned in eval mode."""
    if isinstance(options, dict):
        options = cls.Options(**options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(options)
    return model.eval()


def count_parameters(model: torch.nn.Module) -> int:
    """Trainable parameters as PyTorch counts them (the ModelSpec convention)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@dataclass
class TrainedModel:
    """A trained model read back from a run directory, ready to export."""

    job: str
    model_name: str
    model: SequenceModel
    context: ExportContext


def save_trained(job_dir: Path, model_name: str, options: Options, model: SequenceModel,
                 normalization: dict[str, list[float]], run_id: str, config_hash: str, seed: int) -> None:
    """Write ``model.pt`` (final, best weights) and ``job.json`` (how to rebuild it)."""
    from .training.checkpoints import save_atomic

    save_atomic(model.state_dict(), job_dir / "model.pt")
    write_json_atomic(job_dir / "job.json", {
        "job": job_dir.name, "model": model_name, "model_options": options.model_dump(mode="json"),
        "spec": model.spec_name, "normalization": normalization, "run_id": run_id,
        "config_hash": config_hash, "seed": seed,
    })


def load_trained(run_dir: Path) -> list[TrainedModel]:
    """Every finished job of a run directory, with its trained weights loaded.

    Raises ``FileNotFoundError`` naming the run directory when it holds no
    finished job, and ``LookupError`` when a job's model plugin is not installed.
    """
    from .plugins import get_registry

    run_dir = Path(run_dir)
    found = []
    for job_file in sorted(run_dir.glob("*/job.json")):
        info = json.loads(job_file.read_text(encoding="utf-8"))
        cls = get_registry().get("models", info["model"]).obj
        model = build_model(cls, info["model_options"], seed=info["seed"])
        model.load_state_dict(torch.load(job_file.parent / "model.pt", map_location="cpu", weights_only=True))
        context = ExportContext(normalization=info["normalization"], run_id=info["run_id"],
                                config_hash=info["config_hash"], seed=info["seed"])
        found.append(TrainedModel(info["job"], info["model"], model.eval(), context))
    if not found:
        raise FileNotFoundError(f"{run_dir}: no finished job (no */job.json with model.pt): is this a run directory?")
    return found
