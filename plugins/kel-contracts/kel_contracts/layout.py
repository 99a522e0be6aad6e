"""Element layouts: a contract's input or output vector as named segments, from which the element list,
the C++ offsets and the docs are all derived."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kelcore.api import FeatureContract, FeatureElement


@dataclass(frozen=True)
class Segment:
    """``size`` consecutive elements that share one meaning; ``label(i)`` names element ``i`` of the segment."""

    name: str                 # C++ offset constant and element-name stem, e.g. "prev_pitch_class"
    size: int
    meaning: str              # what the segment holds (docs); "{label}" is replaced per element
    scale: str
    labels: tuple[str, ...] = ()

    def element_name(self, i: int) -> str:
        if self.size == 1:
            return self.name
        return f"{self.name}_{self.labels[i]}" if self.labels else f"{self.name}{i}"

    def element_meaning(self, i: int) -> str:
        label = self.labels[i] if self.labels else str(i)
        return self.meaning.replace("{label}", label)


@dataclass(frozen=True)
class Layout:
    """An ordered list of segments; offsets follow from the order."""

    segments: tuple[Segment, ...]

    @property
    def size(self) -> int:
        return sum(s.size for s in self.segments)

    def offsets(self) -> dict[str, int]:
        """Segment name -> index of its first element."""
        out, position = {}, 0
        for segment in self.segments:
            out[segment.name] = position
            position += segment.size
        return out

    def __getitem__(self, name: str) -> int:
        return self.offsets()[name]

    def elements(self, normalisation: str) -> list[FeatureElement]:
        rows, index = [], 0
        for segment in self.segments:
            for i in range(segment.size):
                rows.append(FeatureElement(index=index, name=segment.element_name(i),
                                           meaning=segment.element_meaning(i), scale=segment.scale,
                                           normalization=normalisation))
                index += 1
        return rows


@dataclass(frozen=True)
class Contract:
    """One model's feature contract: the single definition the Python features, the model plugin, the
    exported metadata, docs/CONTRACTS.md and the C++ library follow."""

    model: str
    version: str
    datasets: str                       # which datasets produce it (docs)
    step: str                           # what one step is
    plugin_supplies: str                # what the plugin must know at each step (docs, C++ API)
    inputs: Layout
    input_normalisation: str            # "identity" or "standardised"
    outputs: Layout
    output_normalisation: str           # "softmax", "tanh", ...
    targets: str
    target_size: int
    decoding: str
    native_tolerance: float = 1e-6      # largest |C++ feature - training feature| a plugin may show
    changes: tuple[str, ...] = ()       # version history, newest first
    constants: dict[str, Any] = field(default_factory=dict)   # every number the features depend on
    details: tuple[str, ...] = ()       # exact definitions beyond the element list (docs)

    def feature_contract(self) -> FeatureContract:
        """The contract as kelcore's :class:`FeatureContract` (what exporters embed in every file)."""
        norm = ("standardised with the training split's mean/std (metadata.feature_contract.normalization)"
                if self.input_normalisation == "standardised" else "identity (mean 0, std 1)")
        notes = " ".join([f"Step: {self.step}", f"The plugin supplies: {self.plugin_supplies}",
                          f"Decoding: {self.decoding}"])
        return FeatureContract(model=self.model, version=self.version, inputs=self.inputs.elements(norm),
                               outputs=self.outputs.elements(self.output_normalisation), targets=self.targets,
                               notes=notes, target_size=self.target_size,
                               standardised=self.input_normalisation == "standardised",
                               output_activation=self.output_normalisation)

    def cache_key(self) -> dict[str, Any]:
        """What a feature cache key must hold so that a changed contract never serves stale features."""
        return {"model": self.model, "version": self.version, "constants": _plain(self.constants)}


def _plain(value: Any) -> Any:
    """Constants as JSON-able plain values (tuples -> lists, numpy scalars -> floats)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return value


def one_hot(name: str, labels: tuple[str, ...] | list[str], meaning: str, scale: str = "one-hot") -> Segment:
    return Segment(name, len(labels), meaning, scale, tuple(str(label) for label in labels))


def scalar(name: str, meaning: str, scale: str) -> Segment:
    return Segment(name, 1, meaning, scale)
