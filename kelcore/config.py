"""Pipeline TOML -> validated objects, in stages, with ``FILE:LINE: dotted.key: message`` errors.

Command-line overrides (``--set jobs.melody.trainer_options.epochs=5``) are applied to the
parsed file before validation and validated exactly like it; a problem they cause is reported
as ``--set KEY=VALUE: dotted.key: message``. ``only`` keeps the named jobs (all are validated).

Stages: TOML syntax -> core schema (unknown keys are errors) -> plugin names ->
each plugin's own ``Options`` -> cross-checks (dataset features = model input =
C++ ModelSpec, targets, parameter count). Nothing runs until all pass. Relative
paths in the file (``run.runs_dir`` and any path option of a plugin) are
resolved against the file's own folder.
"""
from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .components import Dataset, Exporter, SequenceModel, Trainer
from .plugins import PluginError, Registry, UnknownComponentError, get_registry
from .spec import SpecError, get_spec


class ConfigError(Exception):
    """One or more problems in a pipeline file; ``str()`` is one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunSection(_Strict):
    name: str = Field("run", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 0
    runs_dir: Path = Path("runs")


class JobSection(_Strict):
    model: str
    dataset: str
    trainer: str = "default"
    exporters: list[str] = []
    seed: int | None = None
    model_options: dict[str, Any] = {}
    dataset_options: dict[str, Any] = {}
    trainer_options: dict[str, Any] = {}
    exporter_options: dict[str, dict[str, Any]] = {}


class PipelineSection(_Strict):
    run: RunSection = RunSection()
    jobs: dict[str, JobSection] = Field(min_length=1)


@dataclass
class Job:
    """One model to train: validated plugin classes and their options."""

    name: str
    seed: int
    model_name: str
    model_cls: type[SequenceModel]
    model_options: Any
    dataset_name: str
    dataset: Dataset
    trainer_name: str
    trainer: Trainer
    exporters: dict[str, Exporter] = field(default_factory=dict)


@dataclass
class Pipeline:
    """A validated pipeline file."""

    path: Path
    text: str
    run: RunSection
    jobs: list[Job]
    raw: dict[str, Any]
    overrides: list[str] = field(default_factory=list)

    @property
    def config_hash(self) -> str:
        """Identity of what runs: the file's text plus any ``--set`` overrides (a resume must repeat them)."""
        text = self.text + ("".join(f"\n--set {o}" for o in self.overrides) if self.overrides else "")
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class KeyLines:
    """Maps dotted keys of a TOML file to the line that defines them (tomllib keeps no positions)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")

    def __init__(self, text: str) -> None:
        self.lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            if header := self._HEADER.match(line):
                table = self._split(header.group(1))
                self.lines.setdefault(table, number)
            elif key := self._KEY.match(line):
                self.lines.setdefault(table + self._split(key.group(1)), number)

    @staticmethod
    def _split(dotted: str) -> tuple[str, ...]:
        parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^.\s]+", dotted)
        return tuple(p.strip("\"'") for p in parts)

    def line(self, path: tuple[Any, ...]) -> int:
        """Line of ``path`` or of its nearest defined ancestor (1 if none)."""
        keys = tuple(str(p) for p in path)
        for end in range(len(keys), 0, -1):
            if keys[:end] in self.lines:
                return self.lines[keys[:end]]
        return 1


def _dotted(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


class _Problems:
    def __init__(self, path: Path, keys: KeyLines, overrides: dict[tuple[str, ...], str] | None = None) -> None:
        self.path, self.keys, self.items = path, keys, []
        self.overrides = overrides or {}

    def add(self, key: tuple[Any, ...], message: str, line: int | None = None) -> None:
        keys = tuple(str(k) for k in key)
        for end in range(len(keys), 0, -1):  # a key set on the command line is reported there
            if keys[:end] in self.overrides:
                self.items.append(f"--set {self.overrides[keys[:end]]}: {_dotted(key)}: {message}")
                return
        self.items.append(f"{self.path}:{line or self.keys.line(key)}: {_dotted(key)}: {message}")

    def add_validation(self, prefix: tuple[Any, ...], error: ValidationError, model: Any = None) -> None:
        for item in error.errors():
            loc = prefix + tuple(item["loc"])
            message = "unknown key (not an option here)" if item["type"] == "extra_forbidden" else item["msg"]
            if item["type"] == "extra_forbidden" and model is not None:
                message += did_you_mean(str(item["loc"][-1]), _field_names(model, tuple(item["loc"])))
            if item["type"] not in ("extra_forbidden", "missing") and "input" in item:
                message += f" (got {item['input']!r})"
            self.add(loc, message)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def did_you_mean(name: str, known: list[str]) -> str:
    """``"; did you mean 'epochs'?"`` for a typo'd key, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _field_names(model: Any, loc: tuple[Any, ...]) -> list[str]:
    """The keys a pydantic ``model`` allows where ``loc``'s last key stands (through sub-models and dict values)."""
    import typing

    current = model
    for part in loc[:-1]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field is not None else None
        else:  # dict[str, Model]: the value's model
            args = typing.get_args(current)
            current = args[-1] if args else None
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def parse_override(item: str) -> tuple[tuple[str, ...], Any]:
    """``a.b.c=VALUE`` -> (("a", "b", "c"), value); VALUE is read as a TOML value (``5``, ``0.1``,
    ``true``, ``"text"``, ``[1, 2]``), and as a plain string when it is not one (``device=cuda``)."""
    if "=" not in item:
        raise ConfigError([f"--set {item}: expected KEY=VALUE, e.g. jobs.melody.trainer_options.epochs=5"])
    key, value = item.split("=", 1)
    parts = tuple(KeyLines._split(key.strip()))
    if not parts or any(not p for p in parts):
        raise ConfigError([f"--set {item}: expected a dotted key before '='"])
    try:
        parsed = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return parts, parsed


def _option_value(text: str, annotation: Any) -> Any:
    """One ``-o KEY=VALUE`` value: JSON (``[\"a\", \"b\"]``, ``{...}``), else a TOML value (``5``, ``true``,
    ``"x"``), else plain text; for a list option plain text is split at commas (``a,b``)."""
    import json
    import typing

    text = text.strip()
    for parse in (json.loads, lambda t: tomllib.loads(f"v = {t}")["v"]):
        try:
            return parse(text)
        except (ValueError, tomllib.TOMLDecodeError):
            continue
    origins = {typing.get_origin(annotation), *(typing.get_origin(a) for a in typing.get_args(annotation))}
    if origins & {list, tuple, set, frozenset}:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def options_from_cli(cls: Any, items: list[str], where: str, base: dict[str, Any] | None = None) -> Any:
    """``cls.Options`` from ``-o KEY=VALUE`` items (over ``base``), with a clear :class:`UsageError` naming the
    option, what was given and what is expected (never a raw pydantic error): ``-o collections=a,b`` or
    ``-o 'collections=["a","b"]'`` set a list option."""
    from .errors import UsageError

    fields = cls.Options.model_fields
    values = dict(base or {})
    given: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"{where}: -o {item}: expected KEY=VALUE")
        key, text = (part.strip() for part in item.split("=", 1))
        if key not in fields:
            raise UsageError(f"{where}: -o {item}: {cls.__name__} has no option {key!r} (options: "
                             f"{', '.join(fields) or 'none'})")
        values[key], given[key] = _option_value(text, fields[key].annotation), item
    try:
        return cls.Options(**values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = str(error["loc"][0]) if error["loc"] else ""
            shown = f"-o {given[key]}" if key in given else key or "options"
            annotation = getattr(fields.get(key), "annotation", None)
            expected = f" (expected {_type_name(annotation)})" if annotation is not None else ""
            problems.append(f"{shown}: {error['msg']}{expected}")
        raise UsageError(f"{where}: " + "; ".join(dict.fromkeys(problems))) from None


def _type_name(annotation: Any) -> str:
    import typing

    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        inner = _type_name(args[0]) if args else "value"
        return f"a list of {inner}, e.g. -o key=a,b or -o 'key=[\"a\", \"b\"]'"
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, typing.get_args(annotation)))
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[tuple[str, ...], str]:
    """Set each ``KEY=VALUE`` in ``raw`` (in place); returns key path -> the override as typed."""
    applied: dict[tuple[str, ...], str] = {}
    problems = []
    for item in overrides:
        parts, value = parse_override(item)
        if parts[0] == "jobs" and len(parts) > 2 and parts[1] not in raw.get("jobs", {}):
            known = ", ".join(sorted(raw.get("jobs", {}))) or "none"
            problems.append(f"--set {item}: {_dotted(parts[:2])}: no job {parts[1]!r} in the file (jobs: {known})")
            continue
        table = raw
        for depth, part in enumerate(parts[:-1]):
            child = table.setdefault(part, {})
            if not isinstance(child, dict):
                problems.append(f"--set {item}: {_dotted(parts[:depth + 1])}: is a value, not a table")
                break
            table = child
        else:
            table[parts[-1]] = value
            applied[parts] = item
    if problems:
        raise ConfigError(problems)
    return applied


def load_pipeline(path: Path, registry: Registry | None = None, overrides: list[str] | None = None,
                  only: list[str] | None = None) -> Pipeline:
    """Read and validate a pipeline file; raises :class:`ConfigError` listing every problem.

    ``overrides`` are ``KEY=VALUE`` strings applied before validation; ``only`` keeps the named jobs.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}:1: (file): cannot read: {exc.strerror or exc}"]) from None
    raw = _parse_toml(path, text)
    overrides = list(overrides or [])
    keys = KeyLines(text)
    problems = _Problems(path, keys, apply_overrides(raw, overrides))
    try:
        section = PipelineSection.model_validate(raw)
    except ValidationError as exc:
        problems.add_validation((), exc, PipelineSection)
        problems.raise_if_any()
    registry = registry or get_registry()
    base = path.parent
    run = section.run.model_copy(update={"runs_dir": _resolve(base, section.run.runs_dir)})
    jobs = [job for name, job_section in section.jobs.items()
            if (job := _build_job(name, job_section, run, registry, problems, base)) is not None]
    problems.raise_if_any()
    if only:
        unknown = [name for name in only if name not in section.jobs]
        if unknown:
            import difflib

            lines = []
            for name in unknown:
                close = difflib.get_close_matches(name, list(section.jobs), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                lines.append(f"--only {name}: no job {name!r} in {path} (jobs: {', '.join(section.jobs)}){hint}")
            raise ConfigError(lines)
        jobs = [job for job in jobs if job.name in only]
    return Pipeline(path=path, text=text, run=run, jobs=jobs, raw=raw, overrides=overrides)


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        where = re.search(r"\(at line (\d+), column (\d+)\)", message)
        line, column = (where.group(1), where.group(2)) if where else ("1", "1")
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ConfigError([f"{path}:{line}:{column}: (syntax): invalid TOML: {reason}"]) from None


def _resolve(base: Path, value: Path) -> Path:
    return value if value.is_absolute() else (base / value).resolve()


def _options(cls: Any, values: dict[str, Any], key: tuple[Any, ...], problems: _Problems, base: Path) -> Any:
    """Validate ``values`` with ``cls.Options``; relative Path options resolve against ``base``."""
    try:
        options = cls.Options(**values)
    except ValidationError as exc:
        problems.add_validation(key, exc, cls.Options)
        return None
    updates = {name: _resolve(base, value) for name, value in options if isinstance(value, Path)}
    return options.model_copy(update=updates) if updates else options


def _lookup(registry: Registry, kind: str, name: str, key: tuple[Any, ...], problems: _Problems) -> Any:
    try:
        return registry.get(kind, name).obj
    except (UnknownComponentError, PluginError) as exc:  # unknown name, or a name two plugins registered
        problems.add(key, str(exc).strip("'\""))
        return None


def _build_job(name: str, section: JobSection, run: RunSection, registry: Registry,
               problems: _Problems, base: Path) -> Job | None:
    prefix = ("jobs", name)
    before = len(problems.items)
    model_cls = _lookup(registry, "models", section.model, prefix + ("model",), problems)
    dataset_cls = _lookup(registry, "datasets", section.dataset, prefix + ("dataset",), problems)
    trainer_cls = _lookup(registry, "trainers", section.trainer, prefix + ("trainer",), problems)
    exporter_classes = {e: _lookup(registry, "exporters", e, prefix + ("exporters",), problems)
                        for e in section.exporters}
    for extra in set(section.exporter_options) - set(section.exporters):
        problems.add(prefix + ("exporter_options", extra), f"options for exporter {extra!r}, which is not in exporters")
    # every component that was found has its options checked too: one unknown name never hides the other errors
    model_options = (_options(model_cls, section.model_options, prefix + ("model_options",), problems, base)
                     if model_cls is not None else None)
    dataset_options = (_options(dataset_cls, section.dataset_options, prefix + ("dataset_options",), problems, base)
                       if dataset_cls is not None else None)
    trainer_options = (_options(trainer_cls, section.trainer_options, prefix + ("trainer_options",), problems, base)
                       if trainer_cls is not None else None)
    exporters = {}
    for exporter_name, cls in exporter_classes.items():
        if cls is None:
            continue
        opts = _options(cls, section.exporter_options.get(exporter_name, {}),
                        prefix + ("exporter_options", exporter_name), problems, base)
        if opts is not None:
            exporters[exporter_name] = cls(opts)
    root = getattr(dataset_options, "root", None) if dataset_options is not None else None
    if isinstance(root, Path) and not root.is_dir():
        problems.add(prefix + ("dataset_options", "root"),
                     f"no such folder: {root}" + (" (a file, not a folder)" if root.exists() else ""))
    if len(problems.items) > before:
        return None
    dataset = dataset_cls(dataset_options)
    _cross_check(prefix, section, model_cls, model_options, dataset, problems)
    if len(problems.items) > before:
        return None
    return Job(
        name=name, seed=section.seed if section.seed is not None else run.seed,
        model_name=section.model, model_cls=model_cls, model_options=model_options,
        dataset_name=section.dataset, dataset=dataset, trainer_name=section.trainer,
        trainer=trainer_cls(trainer_options), exporters=exporters,
    )


def _cross_check(prefix: tuple[Any, ...], section: JobSection, model_cls: type[SequenceModel], model_options: Any,
                 dataset: Dataset, problems: _Problems) -> None:
    """dataset features = model input = C++ ModelSpec; targets agree; exact parameter count."""
    try:
        spec = get_spec(model_cls.spec_name)
    except SpecError as exc:
        problems.add(prefix + ("model",), str(exc))
        return
    if dataset.produces != spec.name:
        problems.add(prefix + ("dataset",), f"dataset {section.dataset!r} produces features for {dataset.produces}, "
                     f"but model {section.model!r} is {spec.name}")
    if dataset.input_size is not None and dataset.input_size != spec.input_size:
        problems.add(prefix + ("dataset",), f"dataset {section.dataset!r} yields {dataset.input_size} features per "
                     f"step but {spec.name} takes {spec.input_size} (C++ ModelSpec)")
    try:
        target_size, standardised = dataset.target_size, dataset.standardised
    except (LookupError, AttributeError) as exc:
        problems.add(prefix + ("dataset",), f"dataset {section.dataset!r}: {exc}")
        return
    if target_size != model_cls.target_size:
        problems.add(prefix + ("dataset",), f"dataset {section.dataset!r} yields targets of width "
                     f"{target_size} but model {section.model!r} expects {model_cls.target_size}")
    if model_cls.feature_contract().standardised and not standardised:
        problems.add(prefix + ("dataset",), f"dataset {section.dataset!r} does not standardise its inputs, but "
                     f"{spec.name}'s feature contract says they are standardised with the training split's "
                     "mean/std: remove the dataset's `standardised = False`, and return "
                     "PreparedData(normalization=fit_normalization(train)) from its prepare() (an IndexedDataset "
                     "does both by itself)")
    from .testing.checks import ConformanceError, check_output_size, check_parameter_count

    for check in (check_output_size, check_parameter_count):  # the conformance suite's own checks
        try:
            check(model_cls, model_options)
        except ConformanceError as exc:
            problems.add(prefix + ("model",), str(exc))
