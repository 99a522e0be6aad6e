"""Running the checks: pick a plugin's models, run every check, collect results."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..api import SequenceModel
from ..plugins import Registry, UnknownComponentError, get_registry, unknown_name_message
from .checks import CHECKS, ConformanceError, ConformanceSkip

Target = Any  # a model class, or (model class, options)


@dataclass
class CheckResult:
    model: str
    check: str
    status: str  # "PASS", "FAIL" or "SKIP"
    message: str = ""


def unpack(target: Target) -> tuple[type[SequenceModel], Any]:
    return target if isinstance(target, tuple) else (target, None)


def target_id(target: Target) -> str:
    cls, _ = unpack(target)
    return getattr(cls, "spec_name", cls.__name__)


def models_of_plugin(name: str, registry: Registry | None = None) -> dict[str, type[SequenceModel]]:
    """Models registered under ``name``, or by the plugin whose entry point or distribution is ``name``."""
    registry = registry or get_registry()
    models = registry.components["models"]
    if name in models:
        return {name: models[name].obj}
    plugins = [p for p in registry.plugins if name in (p.name, p.distribution)]
    found = {m: models[m].obj for p in plugins for m in p.components.get("models", []) if m in models}
    if not found:
        candidates = sorted(set(models) | {p.name for p in registry.plugins if p.components.get("models")}
                            | {p.distribution for p in registry.plugins if p.components.get("models")})
        raise UnknownComponentError(unknown_name_message("models", name, candidates).replace(
            "unknown model", "no model plugin"))
    return found


def run_check(check: Callable[..., None], target: Target) -> CheckResult:
    cls, options = unpack(target)
    try:
        check(cls, options)
    except ConformanceSkip as skip:
        return CheckResult(target_id(target), check.__name__, "SKIP", str(skip))
    except ConformanceError as failure:
        return CheckResult(target_id(target), check.__name__, "FAIL", str(failure))
    except Exception as exc:  # noqa: BLE001 - a crashing model fails the check, it does not stop the suite
        return CheckResult(target_id(target), check.__name__, "FAIL",
                           f"{target_id(target)}: {check.__name__} raised {type(exc).__name__}: {exc}")
    return CheckResult(target_id(target), check.__name__, "PASS")


def run_all(targets: list[Target]) -> list[CheckResult]:
    return [run_check(check, target) for target in targets for check in CHECKS]
