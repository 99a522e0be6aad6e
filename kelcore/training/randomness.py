"""Training randomness drawn on the host: the same seed gives the same draws on every device.

A CPU and a CUDA run of one pipeline draw their random numbers from different generators when a model draws on
its own device (``nn.Dropout`` on CUDA uses the device's Philox stream, on the CPU the CPU's Mersenne Twister):
the two runs are then different random realisations, and a training that is sensitive to its realisation (the
melody quickstart was: top-1 0.22 to 0.47 across realisations) reaches different metrics on each machine. Drawing
every training random number from the CPU's default generator -- seeded by the trainer and saved in every
checkpoint -- makes the draws a function of the seed alone; only the arithmetic differs between devices.
The cost is the draw on the host and a copy of the mask (bytes per element, asynchronous from pinned memory).
"""
from __future__ import annotations

import torch
from torch import nn


def to_device(values: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A host tensor on ``device``; to CUDA from pinned memory without blocking, so the copy overlaps the work."""
    if torch.device(device).type == "cuda":
        return values.pin_memory().to(device, non_blocking=True)
    return values.to(device)


def host_uniform(shape: torch.Size | tuple[int, ...], device: torch.device | str) -> torch.Tensor:
    """Uniform [0, 1) numbers of ``shape`` drawn from the CPU's default generator, placed on ``device``."""
    return to_device(torch.rand(shape), device)


class HostDropout(nn.Dropout):
    """``nn.Dropout`` whose mask is drawn on the host (:func:`host_uniform`), so a training run draws the same
    masks on every device. The identity in eval mode; a train-only module (dropped on export) like its base."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return torch.zeros_like(x)
        keep = to_device(torch.rand(x.shape) >= self.p, x.device)  # one byte per element crosses to the device
        return x * keep.to(x.dtype) * (1.0 / (1.0 - self.p))
