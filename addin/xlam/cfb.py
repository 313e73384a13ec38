"""A compound file (MS-CFB, version 3) writer and reader, just enough for ``vbaProject.bin``.

The writer is deterministic: no timestamps, no class IDs, a fixed layout, and each storage's
children kept in a balanced red-black tree ordered as MS-CFB 2.6.4 requires. The reader is
what the builder needs to take modules out of a shipped add-in and what the tests use to read
back what we wrote; it follows the FAT, the mini FAT and the directory tree, nothing more.
"""

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
SECTOR_SIZE = 512
MINI_SECTOR_SIZE = 64
MINI_STREAM_CUTOFF = 4096
ENTRY_SIZE = 128

FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF

_STORAGE, _STREAM, _ROOT = 1, 2, 5
_RED, _BLACK = 0, 1
_HEADER_DIFAT_SLOTS = 109


class CompoundFileError(ValueError):
    """The bytes are not a compound file this reader understands."""


@dataclass
class _Entry:
    name: str
    kind: int
    data: bytes = b""
    children: list["_Entry"] = field(default_factory=list)
    sid: int = 0
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    color: int = _BLACK
    start: int = ENDOFCHAIN


def _sort_key(name: str) -> tuple[int, str]:
    """MS-CFB 2.6.4: shorter names first, then code point by code point, upper-cased."""
    return (len(name.encode("utf-16-le")) // 2, name.upper())


def _tree(streams: dict[str, bytes]) -> _Entry:
    root = _Entry("Root Entry", _ROOT)
    for path, data in streams.items():
        parts = path.split("/")
        node = root
        for part in parts[:-1]:
            found = next((c for c in node.children if c.name == part), None)
            if found is None:
                found = _Entry(part, _STORAGE)
                node.children.append(found)
            elif found.kind != _STORAGE:
                raise ValueError(f"{path!r}: {part!r} is a stream, not a storage")
            node = found
        if any(c.name == parts[-1] for c in node.children):
            raise ValueError(f"{path!r} is given twice")
        node.children.append(_Entry(parts[-1], _STREAM, data))
    return root


def _flatten(root: _Entry) -> list[_Entry]:
    """Entries in directory order: a storage, then its children sorted, depth first."""
    order: list[_Entry] = []

    def visit(node: _Entry) -> None:
        node.sid = len(order)
        order.append(node)
        node.children.sort(key=lambda c: _sort_key(c.name))
        for child in node.children:
            visit(child)

    visit(root)
    return order


def _link_siblings(node: _Entry) -> None:
    """Give each storage a balanced tree of its children; the deepest level is red."""
    children = node.children
    if not children:
        return

    def depth_of(lo: int, hi: int) -> int:
        return 0 if lo >= hi else 1 + depth_of(lo, (lo + hi) // 2)

    deepest = depth_of(0, len(children)) - 1

    def build(lo: int, hi: int, depth: int) -> int:
        if lo >= hi:
            return NOSTREAM
        mid = (lo + hi) // 2
        entry = children[mid]
        entry.left = build(lo, mid, depth + 1)
        entry.right = build(mid + 1, hi, depth + 1)
        entry.color = _RED if depth == deepest and depth > 0 else _BLACK
        return entry.sid

    node.child = build(0, len(children), 0)
    for child in children:
        _link_siblings(child)


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\x00" * (-len(data) % size)


def _sectors(size: int) -> int:
    return -(-size // SECTOR_SIZE)


def _append_chain(table: list[int], count: int) -> int:
    """Add a chain of ``count`` consecutive sectors to a FAT or mini FAT; returns its start."""
    if count == 0:
        return ENDOFCHAIN
    first = len(table)
    table.extend(range(first + 1, first + count))
    table.append(ENDOFCHAIN)
    return first


class _MiniStream(NamedTuple):
    fat: list[int]
    data: bytes
    big: list[_Entry]
    """The streams too large for the mini stream, in directory order."""


def _fill_mini_stream(entries: list[_Entry]) -> _MiniStream:
    """Small streams go to the mini stream, 64 bytes a mini sector; sets their start."""
    mini_fat: list[int] = []
    mini_stream = bytearray()
    big: list[_Entry] = []
    for entry in entries:
        if entry.kind != _STREAM:
            continue
        if len(entry.data) >= MINI_STREAM_CUTOFF:
            big.append(entry)
        elif entry.data:
            entry.start = _append_chain(mini_fat, -(-len(entry.data) // MINI_SECTOR_SIZE))
            mini_stream += _pad(entry.data, MINI_SECTOR_SIZE)
        else:
            entry.start = ENDOFCHAIN
    return _MiniStream(mini_fat, bytes(mini_stream), big)


def _fat_sector_count(payload: int) -> int:
    """FAT sectors enough to map ``payload`` sectors and themselves, all listed in the header."""
    fat_sectors = 1
    while fat_sectors * (SECTOR_SIZE // 4) < payload + fat_sectors:
        fat_sectors += 1
    if fat_sectors > _HEADER_DIFAT_SLOTS:
        raise ValueError("compound file too large for a header-only DIFAT")
    return fat_sectors


class _Layout(NamedTuple):
    fat: list[int]
    fat_sectors: int
    dir_start: int
    mini_fat_start: int
    mini_fat_sectors: int


def _allocate(entries: list[_Entry], root: _Entry, mini: _MiniStream) -> _Layout:
    """The FAT, then the directory, mini FAT, mini stream and big streams in that order."""
    dir_sectors = _sectors(len(entries) * ENTRY_SIZE)
    mini_fat_sectors = _sectors(len(mini.fat) * 4)
    mini_stream_sectors = _sectors(len(mini.data))
    big_sectors = [_sectors(len(e.data)) for e in mini.big]
    payload = dir_sectors + mini_fat_sectors + mini_stream_sectors + sum(big_sectors)
    fat_sectors = _fat_sector_count(payload)
    fat: list[int] = [FATSECT] * fat_sectors
    dir_start = _append_chain(fat, dir_sectors)
    mini_fat_start = _append_chain(fat, mini_fat_sectors)
    root.start = _append_chain(fat, mini_stream_sectors)
    for entry, count in zip(mini.big, big_sectors, strict=True):
        entry.start = _append_chain(fat, count)
    fat.extend([FREESECT] * (fat_sectors * (SECTOR_SIZE // 4) - len(fat)))
    return _Layout(fat, fat_sectors, dir_start, mini_fat_start, mini_fat_sectors)


def _header(layout: _Layout) -> bytes:
    header = bytearray(SIGNATURE)
    header += b"\x00" * 16  # header CLSID
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
    header += b"\x00" * 6
    header += struct.pack(
        "<IIIIIIIII",
        0,  # directory sectors: always 0 in version 3
        layout.fat_sectors,
        layout.dir_start,
        0,  # transaction signature
        MINI_STREAM_CUTOFF,
        layout.mini_fat_start,  # ENDOFCHAIN when there is no mini FAT
        layout.mini_fat_sectors,
        ENDOFCHAIN,  # first DIFAT sector
        0,  # DIFAT sectors
    )
    difat = list(range(layout.fat_sectors))
    difat += [FREESECT] * (_HEADER_DIFAT_SLOTS - layout.fat_sectors)
    header += struct.pack(f"<{_HEADER_DIFAT_SLOTS}I", *difat)
    return bytes(header)


def _directory_entry(entry: _Entry, mini_stream_size: int) -> bytes:
    encoded = (entry.name + "\x00").encode("utf-16-le")
    if len(encoded) > 64:
        raise ValueError(f"name too long for a compound file: {entry.name!r}")
    size = mini_stream_size if entry.kind == _ROOT else len(entry.data)
    start = 0 if entry.kind == _STORAGE else entry.start
    return (
        encoded.ljust(64, b"\x00")
        + struct.pack(
            "<HBBIII", len(encoded), entry.kind, entry.color, entry.left, entry.right, entry.child
        )
        + b"\x00" * 16  # CLSID
        + b"\x00" * 4  # state bits
        + b"\x00" * 16  # creation and modification time
        + struct.pack("<IQ", start, size)
    )


def _directory(entries: list[_Entry], mini_stream_size: int) -> bytes:
    """The directory entries, filled up to whole sectors with unused entries."""
    directory = b"".join(_directory_entry(entry, mini_stream_size) for entry in entries)
    unused = b"\x00" * 64 + struct.pack("<HBBIII", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM)
    return directory + (unused + b"\x00" * 48) * (-len(entries) % (SECTOR_SIZE // ENTRY_SIZE))


def write_compound_file(streams: dict[str, bytes]) -> bytes:
    """A compound file holding ``streams`` (paths like ``"VBA/dir"``), byte-for-byte stable."""
    root = _tree(streams)
    entries = _flatten(root)
    _link_siblings(root)
    mini = _fill_mini_stream(entries)
    layout = _allocate(entries, root, mini)
    body = bytearray()
    body += struct.pack(f"<{len(layout.fat)}I", *layout.fat)
    body += _directory(entries, len(mini.data))
    body += _pad(struct.pack(f"<{len(mini.fat)}I", *mini.fat), SECTOR_SIZE)
    body += _pad(mini.data, SECTOR_SIZE)
    for entry in mini.big:
        body += _pad(entry.data, SECTOR_SIZE)
    return _header(layout) + bytes(body)


def read_compound_file(data: bytes) -> dict[str, bytes]:
    """Every stream of a compound file, by path (``"VBA/dir"``)."""
    if data[:8] != SIGNATURE:
        raise CompoundFileError("not a compound file (bad signature)")
    return _Reader(data).streams()


def _follow(start: int, table: list[int]) -> list[int]:
    """The sector numbers of the chain at ``start`` in a FAT or mini FAT."""
    chain: list[int] = []
    while start not in (ENDOFCHAIN, FREESECT):
        if start >= len(table) or len(chain) > len(table):
            raise CompoundFileError("broken sector chain")
        chain.append(start)
        start = table[start]
    return chain


class _Reader:
    """A compound file being read: the header, FAT, mini FAT and mini stream, read up front."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        sector_shift, mini_shift = struct.unpack_from("<HH", data, 30)
        self.sector_size = 1 << sector_shift
        self.mini_size = 1 << mini_shift
        (_, fat_count, dir_start, _, cutoff, mini_fat_start, _, difat_start, difat_count) = (
            struct.unpack_from("<9I", data, 40)
        )
        self.cutoff: int = cutoff
        self.fat: list[int] = []
        for index in self._difat(difat_start, difat_count)[:fat_count]:
            self.fat.extend(struct.unpack(f"<{self.sector_size // 4}I", self._sector(index)))
        directory = self._read_chain(dir_start)
        self.entries = [directory[i : i + ENTRY_SIZE] for i in range(0, len(directory), ENTRY_SIZE)]
        mini_fat_bytes = self._read_chain(mini_fat_start)
        self.mini_fat = list(struct.unpack(f"<{len(mini_fat_bytes) // 4}I", mini_fat_bytes))
        root_start, root_size = struct.unpack_from("<IQ", self.entries[0], 116)
        self.mini_stream = self._read_chain(root_start)[:root_size]

    def _sector(self, index: int) -> bytes:
        offset = (index + 1) * self.sector_size
        if offset >= len(self.data):
            raise CompoundFileError(f"sector {index} lies past the end of the file")
        return self.data[offset : offset + self.sector_size]

    def _difat(self, start: int, count: int) -> list[int]:
        """Where the FAT sectors are: 109 in the header, the rest in a chain of DIFAT sectors."""
        difat = list(struct.unpack_from(f"<{_HEADER_DIFAT_SLOTS}I", self.data, 76))
        next_difat = start
        for _ in range(count):
            if next_difat in (ENDOFCHAIN, FREESECT):
                break
            values = struct.unpack(f"<{self.sector_size // 4}I", self._sector(next_difat))
            difat.extend(values[:-1])
            next_difat = values[-1]
        return difat

    def _read_chain(self, start: int) -> bytes:
        return b"".join(self._sector(i) for i in _follow(start, self.fat))

    def _stream_bytes(self, start: int, size: int) -> bytes:
        """A stream's data: from the mini stream when smaller than the cutoff, else from sectors."""
        if size < self.cutoff:
            unit = self.mini_size
            chain = _follow(start, self.mini_fat)
            blob = b"".join(self.mini_stream[i * unit : (i + 1) * unit] for i in chain)
        else:
            blob = self._read_chain(start)
        return blob[:size]

    def streams(self) -> dict[str, bytes]:
        streams: dict[str, bytes] = {}
        root_child = struct.unpack_from("<I", self.entries[0], 76)[0]
        self._walk(root_child, "", set(), streams)
        return streams

    def _walk(self, sid: int, prefix: str, seen: set[int], streams: dict[str, bytes]) -> None:
        """Collect the streams of the sibling tree at ``sid`` and of the storages in it."""
        if sid == NOSTREAM:
            return
        if sid in seen or sid >= len(self.entries):
            raise CompoundFileError("broken directory tree")
        seen.add(sid)
        raw = self.entries[sid]
        name_length, kind, _, left, right, child = struct.unpack_from("<HBBIII", raw, 64)
        name = raw[: max(name_length - 2, 0)].decode("utf-16-le")
        start, size = struct.unpack_from("<IQ", raw, 116)
        self._walk(left, prefix, seen, streams)
        self._walk(right, prefix, seen, streams)
        if kind == _STREAM:
            streams[prefix + name] = self._stream_bytes(start, size)
        elif kind == _STORAGE:
            self._walk(child, f"{prefix}{name}/", seen, streams)
