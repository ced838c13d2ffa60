"""Name -> class registries with lazy imports: output formats, intel loaders, event engines, detectors.

A registry knows the module of each name up front, so a run imports only what it uses; a class
registers itself with the `register` decorator when its module is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from netdetect.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(
        self, what: str, modules: dict[str, str], key: Callable[[type[T]], str] | None = None
    ) -> None:
        self.what = what  # "output format", "detector" ... for messages
        self.modules = dict(modules)  # name -> module path ("pkg.mod" or "pkg.mod:Class")
        self.classes: dict[str, type[T]] = {}  # the ones imported so far
        self._key = key or (lambda cls: cls.name)  # type: ignore[attr-defined]

    def register(self, cls: type[T]) -> type[T]:
        """Class decorator: make `cls` available under its name."""
        self.classes[self._key(cls)] = cls
        return cls

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.modules, *self.classes]))

    def __contains__(self, name: object) -> bool:
        return name in self.modules or name in self.classes

    def get(self, name: str) -> type[T]:
        """The class registered as `name`, importing its module first (UsageError for an unknown name)."""
        if name not in self.classes:
            target = self.modules.get(name)
            if target is None:
                raise UsageError(f"unknown {self.what} {name!r}; choose one of {', '.join(self.names())}")
            module, _, attr = target.partition(":")
            imported = importlib.import_module(module)
            if attr:
                self.classes[name] = getattr(imported, attr)
        return self.classes[name]

    def all(self) -> dict[str, type[T]]:
        """Every registered class by name, in registry order."""
        return {name: self.get(name) for name in self.names()}
