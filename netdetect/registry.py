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
C = TypeVar("C", bound=type)  # what `register` decorates, returned as it is


class Registry(Generic[T]):
    """Classes by name, each imported from its module the first time it is asked for.

    `modules` maps a name to "package.module" (whose classes register themselves with the `register`
    decorator) or to "package.module:Class" (taken as it is). `unknown` words the UsageError for a
    name that is not there, from `what`, `name`, `names` (in registry order) and `sorted`.
    """

    def __init__(
        self,
        what: str,
        modules: dict[str, str],
        key: Callable[[type[T]], str] | None = None,
        unknown: str = "unknown {what} {name!r}; choose one of {names}",
    ) -> None:
        self.what = what  # "output format", "detector" ... for messages
        self.modules = dict(modules)  # name -> module path ("pkg.mod" or "pkg.mod:Class")
        self.classes: dict[str, type[T]] = {}  # the ones imported so far
        self._key = key or (lambda cls: cls.name)  # type: ignore[attr-defined]
        self._unknown = unknown

    def register(self, cls: C) -> C:
        """Class decorator: make `cls` available under its name."""
        self.classes[self._key(cls)] = cls
        return cls

    def names(self) -> list[str]:
        return list(dict.fromkeys([*self.modules, *self.classes]))

    def __contains__(self, name: object) -> bool:
        return name in self.modules or name in self.classes

    def unknown(self, name: str) -> UsageError:
        """The error for a name that is not registered."""
        names = self.names()
        return UsageError(
            self._unknown.format(
                what=self.what, name=name, names=", ".join(names), sorted=", ".join(sorted(names))
            )
        )

    def get(self, name: str) -> type[T]:
        """The class registered as `name`, importing its module first (UsageError for an unknown name)."""
        if name not in self.classes:
            target = self.modules.get(name)
            if target is None:
                raise self.unknown(name)
            module, _, attr = target.partition(":")
            imported = importlib.import_module(module)
            if attr:
                self.classes[name] = getattr(imported, attr)
        return self.classes[name]

    def all(self) -> dict[str, type[T]]:
        """Every registered class by name, in registry order."""
        return {name: self.get(name) for name in self.names()}
