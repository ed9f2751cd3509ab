"""Named tables of entries that imgclf ships and that installed distributions add through entry points.

A distribution adds an entry (a model kind, an inference backend) by naming it in its metadata, e.g. in its
pyproject.toml:

    [project.entry-points."imgclf.model_kinds"]
    toy = "toy_package.kind:TOY_KIND"

Every process that has the distribution on its sys.path sees it: the `imgclf` command, Ray workers, Serve replicas.
An entry's module is imported when the entry is first looked up, not when the table is listed by name.
"""

from __future__ import annotations

import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, Mapping, TypeVar

from imgclf.errors import ConfigError

LOG = logging.getLogger("imgclf")
EntryT = TypeVar("EntryT")


class PluginTable(Generic[EntryT]):
    """Entries of one type by name: imgclf's own first (in their order), then those of the entry point group.

    A distribution's entry cannot replace one of imgclf's: it is ignored, with a warning.
    """

    def __init__(self, group: str, what: str, entry_type: type, builtins: Mapping[str, str]) -> None:
        self.group = group  # the entry point group, e.g. imgclf.model_kinds
        self.what = what  # what an entry is, for messages: "model kind"
        self.entry_type = entry_type
        self.builtins = {name: EntryPoint(name, value, group) for name, value in builtins.items()}
        self.loaded: dict[str, EntryT] = {}
        self.installed: dict[str, EntryPoint] | None = None  # the group's entry points, read once

    def names(self) -> tuple[str, ...]:
        """Every entry's name, imgclf's own first; no entry's module is imported."""
        return (*self.builtins, *self.entry_points())

    def get(self, name: str) -> EntryT:
        """The entry called `name`, its module imported on first use; ConfigError naming the known ones."""
        if name not in self.loaded:
            self.loaded[name] = self.load(name)
        return self.loaded[name]

    def entries(self) -> list[EntryT]:
        return [self.get(name) for name in self.names()]

    def refresh(self) -> None:
        """Forget what was read, so distributions put on sys.path since then are seen."""
        self.loaded.clear()
        self.installed = None

    def entry_points(self) -> dict[str, EntryPoint]:
        if self.installed is None:
            found = {}
            for entry in entry_points(group=self.group):
                if entry.name in self.builtins:
                    LOG.warning("ignoring %s %r of %s: imgclf has its own", self.what, entry.name, entry.value)
                else:
                    found[entry.name] = entry
            self.installed = found
        return self.installed

    def load(self, name: str) -> EntryT:
        entry = self.builtins.get(name) or self.entry_points().get(name)
        if entry is None:
            raise ConfigError(f"{self.what} must be one of {', '.join(self.names())}; got {name!r}")
        try:
            value = entry.load()
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{self.what} {name!r} ({entry.value}) cannot be loaded: {exc}") from exc
        if not isinstance(value, self.entry_type) or getattr(value, "name", None) != name:
            raise ConfigError(f"{self.what} {name!r} ({entry.value}) must be a {self.entry_type.__name__} "
                              f"named {name!r}; got {value!r}")
        return value
