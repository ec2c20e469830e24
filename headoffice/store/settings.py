"""Integer console settings kept in head office's `meta` table as `console.<name>` (limits, policies).

Why one class: the directory's adjustment limits and the approvals' policy are the same kind of thing (a
named whole number with a default, set by an owner), stored the same way; each owner of a family of settings
keeps its own defaults and its own error type for a bad value."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from headoffice.store.db import Db


class IntSettings:
    """The settings named in `defaults`; a value outside `low..high` is refused with `refuse(message)`."""

    def __init__(self, db: Db, defaults: Mapping[str, int], low: int, high: int | None,
                 refuse: Callable[[str], Exception]) -> None:
        self._db = db
        self.defaults = defaults
        self._low, self._high = low, high
        self._refuse = refuse

    def get(self, name: str) -> int:
        """The setting's value, or its default (KeyError for a name not in `defaults`)."""
        default = self.defaults[name]
        with self._db.read():
            row = self._db.one("SELECT value FROM meta WHERE key = ?", (f"console.{name}",))
        return int(row[0]) if row else default

    def set(self, name: str, value: int) -> None:
        if name not in self.defaults:
            raise KeyError(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < self._low \
                or (self._high is not None and value > self._high):
            span = "zero or more" if self._high is None else f"from {self._low} to {self._high:,}"
            raise self._refuse(f"{name}: a whole number, {span}")
        with self._db.write():
            self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                             " SET value = excluded.value", (f"console.{name}", value))

    def all(self) -> dict[str, int]:
        """Every setting in one read: a push asks for them all (its `Gate`), one round trip, not one a name."""
        with self._db.read():
            stored = {str(k): int(v) for k, v in self._db.rows_in(
                "SELECT key, value FROM meta WHERE key IN ({marks})", [f"console.{n}" for n in self.defaults])}
        return {name: stored.get(f"console.{name}", default) for name, default in self.defaults.items()}
