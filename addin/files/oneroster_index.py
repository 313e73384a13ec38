"""Compact indexes of a bundle's people, kept between the passes over users.csv.

A state's bundle lists millions of people: a dict of their sourcedIds and an object for each
would take gigabytes, so the passes keep arrays and byte strings instead, a few dozen bytes a
person: their texts in one UTF-8 string, sourcedIds in a hash table of positions, and each
student's linked contacts as sorted runs of one array.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable


class Texts:
    """Texts kept as one UTF-8 byte string; the i-th is read back as ``texts[i]``."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.ends = array("q")

    def add(self, text: str) -> None:
        self.data += text.encode()
        self.ends.append(len(self.data))

    def __getitem__(self, i: int) -> str:
        start = self.ends[i - 1] if i else 0
        return self.data[start : self.ends[i]].decode()

    def __len__(self) -> int:
        return len(self.ends)


class IdIndex:
    """sourcedId -> the position of the first person with it (open addressing, linear probing).

    Only hashes and positions are kept: ``texts[i]`` is person i's sourcedId, or their sourcedId,
    a NUL and more; it tells two sourcedIds with the same hash apart.
    """

    def __init__(self, texts: Texts) -> None:
        self.texts = texts
        self.hashes = array("q")  # by person; 0 for a blank sourcedId, never looked up
        self.slots = array("i", [-1]) * 16
        self.mask = 15
        self.count = 0

    def add(self, sourced_id: str) -> None:
        """The next person's sourcedId; a blank one or one seen before is not indexed."""
        person = len(self.hashes)
        if not sourced_id:
            self.hashes.append(0)
            return
        h = hash(sourced_id)
        self.hashes.append(h)
        if 4 * (self.count + 1) > 3 * len(self.slots):
            self._grow()
        slots, hashes, mask = self.slots, self.hashes, self.mask
        slot = h & mask
        while (other := slots[slot]) >= 0:
            if hashes[other] == h and self.is_id_of(other, sourced_id):
                return  # the first person with it keeps it
            slot = (slot + 1) & mask
        slots[slot] = person
        self.count += 1

    def find(self, sourced_id: str) -> int:
        """The position of the first person with ``sourced_id``, or -1."""
        h = hash(sourced_id)
        slots, hashes, mask = self.slots, self.hashes, self.mask
        slot = h & mask
        while (person := slots[slot]) >= 0:
            if hashes[person] == h and self.is_id_of(person, sourced_id):
                return person
            slot = (slot + 1) & mask
        return -1

    def is_id_of(self, person: int, sourced_id: str) -> bool:
        ends, data = self.texts.ends, self.texts.data
        encoded = sourced_id.encode()
        start = ends[person - 1] if person else 0
        stop = start + len(encoded)
        end = ends[person]
        return stop <= end and data[start:stop] == encoded and (stop == end or data[stop] == 0)

    def _grow(self) -> None:
        old = self.slots
        self.slots = slots = array("i", [-1]) * (2 * len(old))
        self.mask = mask = len(slots) - 1
        hashes = self.hashes
        for person in old:
            if person >= 0:
                slot = hashes[person] & mask
                while slots[slot] >= 0:
                    slot = (slot + 1) & mask
                slots[slot] = person


class Groups:
    """Sorted ints for each owner (a student's linked contacts by position), as one array.

    Owner ``o``'s ints are ``values[ends[o - 1]:ends[o]]``.
    """

    def __init__(self, ends: array[int], values: array[int]) -> None:
        self.ends = ends
        self.values = values

    def _bounds(self, owner: int) -> tuple[int, int]:
        return (self.ends[owner - 1] if owner else 0), self.ends[owner]

    def rank(self, owner: int, value: int) -> int:
        """How many of the owner's ints are smaller than ``value``."""
        lo, hi = self._bounds(owner)
        return bisect_left(self.values, value, lo, hi) - lo

    def has(self, owner: int, value: int) -> bool:
        lo, hi = self._bounds(owner)
        i = bisect_left(self.values, value, lo, hi)
        return i < hi and self.values[i] == value

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def of(cls, owners: int, pairs: Callable[[], Iterable[tuple[int, int]]]) -> Groups:
        """The groups of (owner, value) ``pairs``, given in the order of their values, so each
        owner's run comes out sorted. ``pairs()`` is called twice: to count, then to place."""
        ends = array("q", [0]) * owners
        for owner, _ in pairs():
            ends[owner] += 1
        total = 0
        for owner in range(owners):  # each owner's start
            total, ends[owner] = total + ends[owner], total
        values = array("i", [0]) * total
        for owner, value in pairs():  # placing moves each start to its owner's end
            values[ends[owner]] = value
            ends[owner] += 1
        return cls(ends, values)


class GroupsBuilder:
    """Groups made owner by owner, in the owners' order."""

    def __init__(self) -> None:
        self.ends = array("q")
        self.values = array("i")

    def add(self, values: list[int]) -> None:
        """The next owner's ints (sorted here)."""
        if len(values) > 1:
            values.sort()
        self.values.extend(values)
        self.ends.append(len(self.values))

    def groups(self) -> Groups:
        return Groups(self.ends, self.values)
