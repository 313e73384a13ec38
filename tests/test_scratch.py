"""Scratch stores: exact keys, bulk reads and writes, a file removed when closed."""

from pathlib import Path

import pytest

from backend.imports.scratch import Scratch


def test_a_scratch_store_finds_exactly_the_keys_put_and_its_file_goes_when_closed() -> None:
    with Scratch() as scratch:
        path = Path(scratch.path)
        ids = scratch.store("ids", ("sid",), ("row", "new"))
        assert ids.get(["001"]) == {}
        pairs = scratch.store("pairs", ("sid", "cid"), ("row",))
        ids.put([("001", 2, True), ("1", 3, False), ("Ä", 4, False)])
        pairs.put([("001", "C1", 5), ("001", "C2", 6)])
        assert ids.get(["001", "01", "1", "a", "ä", "Ä", "001"]) == {
            "001": (2, 1),
            "1": (3, 0),
            "Ä": (4, 0),
        }
        assert pairs.get([("001", "C1"), ("C1", "001"), ("1", "C1")]) == {("001", "C1"): (5,)}
        assert ids.get([]) == {}
        with pytest.raises(ValueError, match="new plain name"):
            scratch.store("ids", ("sid",), ("row",))
        assert path.exists()
    assert not path.exists()
