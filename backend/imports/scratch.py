"""Keyed stores in a temporary SQLite file: what a run in parts remembers of its earlier parts.

A state's run names millions of IDs; kept as Python dicts they would cost gigabytes. A store
keeps them on disk, exactly (keys compare as the text they are), and is read and written a
part at a time, in bulk: one lookup of a part's keys, one insert of what the part adds. The file
is the run's alone (no journal, no syncing) and is removed when the scratch is closed.
"""

import os
import sqlite3
import tempfile
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any

CACHE_KB = 32_768
"""The page cache SQLite keeps of the file, in kilobytes."""


class Scratch:
    """A temporary SQLite file holding any number of ``KeyedStore`` tables."""

    def __init__(self) -> None:
        handle, self.path = tempfile.mkstemp(prefix="portal-scratch-", suffix=".sqlite")
        os.close(handle)
        self.db = sqlite3.connect(self.path)
        for pragma in (
            "journal_mode=OFF",
            "synchronous=OFF",
            "locking_mode=EXCLUSIVE",
            "temp_store=MEMORY",
            f"cache_size=-{CACHE_KB}",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self._names: set[str] = set()

    def store(self, name: str, keys: Sequence[str], values: Sequence[str]) -> "KeyedStore":
        """A new table of ``values`` by ``keys`` (column names, plain words)."""
        if name in self._names or not name.isidentifier():
            raise ValueError(f"a scratch store needs a new plain name, not {name!r}")
        self._names.add(name)
        return KeyedStore(self.db, name, tuple(keys), tuple(values))

    def close(self) -> None:
        self.db.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def __enter__(self) -> "Scratch":
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self.close()


class KeyedStore:
    """Values (a tuple each) by key: a key of one column is the value itself, of several a
    tuple. A key is put once; a later put of the same key is refused."""

    def __init__(
        self, db: sqlite3.Connection, name: str, keys: tuple[str, ...], values: tuple[str, ...]
    ) -> None:
        self.db, self.name, self.keys, self.values = db, name, keys, values
        self.size = 0  # rows put: an empty store is not asked
        key_list = ", ".join(keys)
        db.execute(
            f"CREATE TABLE {name} ({', '.join((*keys, *values))}, PRIMARY KEY ({key_list})) "
            "WITHOUT ROWID"
        )
        db.execute(f"CREATE TEMP TABLE {name}_wanted ({key_list})")
        marks = ", ".join("?" * len(keys))
        self._want = f"INSERT INTO {name}_wanted VALUES ({marks})"
        self._read = (
            f"SELECT {', '.join(f's.{c}' for c in (*keys, *values))} FROM {name}_wanted w "
            f"JOIN {name} s ON {' AND '.join(f's.{k} = w.{k}' for k in keys)}"
        )
        self._put = f"INSERT INTO {name} VALUES ({', '.join('?' * (len(keys) + len(values)))})"

    def _key_rows(self, keys: Iterable[Any]) -> Iterable[tuple[Any, ...]]:
        return ((key,) for key in keys) if len(self.keys) == 1 else keys

    def get(self, keys: Iterable[Any]) -> dict[Any, tuple[Any, ...]]:
        """The values of those ``keys`` that were put."""
        if not self.size:
            return {}
        with self.db:  # one transaction: SQLite would otherwise commit each row
            self.db.execute(f"DELETE FROM {self.name}_wanted")
            self.db.executemany(self._want, self._key_rows(set(keys)))
        width = len(self.keys)
        found: dict[Any, tuple[Any, ...]] = {}
        for row in self.db.execute(self._read):
            found[row[0] if width == 1 else row[:width]] = row[width:]
        return found

    def put(self, rows: Iterable[Sequence[Any]]) -> None:
        """Add rows, each its key's columns then its values."""
        with self.db:
            cursor = self.db.executemany(self._put, rows)
        self.size += max(cursor.rowcount, 0)
