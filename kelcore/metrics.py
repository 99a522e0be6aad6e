"""Small, model-agnostic loss and metric helpers for model plugins."""
from __future__ import annotations

import math

import numpy as np
import torch


def log_probs(probabilities: torch.Tensor, floor: float = 1e-8) -> torch.Tensor:
    """``log`` of softmax outputs, floored so a zero probability is a large finite loss."""
    return torch.log(probabilities.clamp_min(floor))


def class_nll(probabilities: torch.Tensor, classes: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean negative log-likelihood of integer ``classes`` under softmax ``probabilities[N, C]``."""
    logp = log_probs(probabilities)
    nll = -logp.gather(1, classes.long().unsqueeze(1)).squeeze(1)
    if label_smoothing:
        nll = (1 - label_smoothing) * nll - label_smoothing * logp.mean(dim=1)
    return nll.mean()


def topk_accuracy(scores: torch.Tensor | np.ndarray, classes: torch.Tensor | np.ndarray, k: int) -> float:
    """Fraction of rows whose class is among the ``k`` highest scores."""
    scores_t = torch.as_tensor(scores)
    classes_t = torch.as_tensor(classes).long()
    top = scores_t.topk(min(k, scores_t.shape[1]), dim=1).indices
    return float((top == classes_t.unsqueeze(1)).any(dim=1).float().mean())


def perplexity(probabilities: torch.Tensor | np.ndarray, classes: torch.Tensor | np.ndarray) -> float:
    """``exp`` of the mean negative log-likelihood of ``classes``."""
    probs = torch.as_tensor(probabilities, dtype=torch.float64)
    return math.exp(float(class_nll(probs, torch.as_tensor(classes))))


def pearson(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Pearson correlation; 0.0 when either side is constant (no linear relation to measure)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denominator) if denominator > 0 else 0.0


def rmse(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    return float(np.sqrt(np.mean((x - y) ** 2)))


def stack_targets(sequences: list) -> np.ndarray:
    """All steps' targets of a list of :class:`kelcore.api.Sequence`, stacked ``[N, target_size]``."""
    return np.concatenate([s.targets for s in sequences], axis=0)
