"""pytest plugin (entry point ``pytest11``): ``pytest --kelcore-conformance=PLUGIN``.

Adds one test item per (model, check) of the named installed plugin(s), even
when pytest is run in a folder without any test file.
"""
from __future__ import annotations

from typing import Any

import pytest


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("kelcore")
    group.addoption("--kelcore-conformance", action="append", default=[], metavar="PLUGIN",
                    help="run the kelcore conformance suites on an installed plugin (repeatable, or a,b)")


def _requested(config: Any) -> list[str]:
    return [name.strip() for value in config.getoption("kelcore_conformance") for name in value.split(",")
            if name.strip()]


class ConformanceItem(pytest.Item):
    """One check on one model."""

    def __init__(self, *, target: Any, check: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target = target
        self.check = check

    def runtest(self) -> None:
        from . import pytest_check

        pytest_check(self.check)(self.target)

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        return str(excinfo.value) if excinfo.errisinstance(AssertionError) else super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[str, int, str]:
        return "kelcore-conformance", 0, self.name


def pytest_collection_modifyitems(session: Any, config: Any, items: list) -> None:
    names = _requested(config)
    if not names:
        return
    from ..plugins import UnknownComponentError
    from .runner import checks_for, components_of_plugin, target_id

    for name in names:
        try:
            found = components_of_plugin(name)
        except UnknownComponentError as exc:
            raise pytest.UsageError(f"--kelcore-conformance: {exc}") from None
        for kind, components in found.items():
            for cls in components.values():
                for check in checks_for(kind):
                    items.append(ConformanceItem.from_parent(
                        session, name=f"{target_id(cls)}-{check.__name__}", target=cls, check=check))
