"""A compound file (MS-CFB, version 3) writer and reader, just enough for ``vbaProject.bin``.

The writer is deterministic: no timestamps, no class IDs, a fixed layout, and each storage's
children kept in a balanced red-black tree ordered as MS-CFB 2.6.4 requires. The reader is
what the builder needs to take modules out of a shipped add-in and what the tests use to read
back what we wrote; it follows the FAT, the mini FAT and the directory tree, nothing more.
"""

import struct
from dataclasses import dataclass, field

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


def write_compound_file(streams: dict[str, bytes]) -> bytes:
    """A compound file holding ``streams`` (paths like ``"VBA/dir"``), byte-for-byte stable."""
    root = _tree(streams)
    entries = _flatten(root)
    _link_siblings(root)

    # Small streams go to the mini stream, 64 bytes a mini sector.
    mini_fat: list[int] = []
    mini_stream = bytearray()
    big: list[_Entry] = []
    for entry in entries:
        if entry.kind != _STREAM:
            continue
        if len(entry.data) >= MINI_STREAM_CUTOFF:
            big.append(entry)
            continue
        if not entry.data:
            entry.start = ENDOFCHAIN
            continue
        first = len(mini_fat)
        count = -(-len(entry.data) // MINI_SECTOR_SIZE)
        mini_fat.extend(range(first + 1, first + count))
        mini_fat.append(ENDOFCHAIN)
        mini_stream += _pad(entry.data, MINI_SECTOR_SIZE)
        entry.start = first

    def sectors(size: int) -> int:
        return -(-size // SECTOR_SIZE)

    dir_sectors = sectors(len(entries) * ENTRY_SIZE)
    mini_fat_sectors = sectors(len(mini_fat) * 4)
    mini_stream_sectors = sectors(len(mini_stream))
    big_sectors = [sectors(len(e.data)) for e in big]
    payload = dir_sectors + mini_fat_sectors + mini_stream_sectors + sum(big_sectors)
    fat_sectors = 1
    while fat_sectors * (SECTOR_SIZE // 4) < payload + fat_sectors:
        fat_sectors += 1
    if fat_sectors > _HEADER_DIFAT_SLOTS:
        raise ValueError("compound file too large for a header-only DIFAT")

    fat: list[int] = [FATSECT] * fat_sectors

    def chain(count: int) -> int:
        if count == 0:
            return ENDOFCHAIN
        first = len(fat)
        fat.extend(range(first + 1, first + count))
        fat.append(ENDOFCHAIN)
        return first

    dir_start = chain(dir_sectors)
    mini_fat_start = chain(mini_fat_sectors)
    root.start = chain(mini_stream_sectors)
    for entry, count in zip(big, big_sectors, strict=True):
        entry.start = chain(count)
    fat.extend([FREESECT] * (fat_sectors * (SECTOR_SIZE // 4) - len(fat)))

    header = bytearray(SIGNATURE)
    header += b"\x00" * 16  # header CLSID
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
    header += b"\x00" * 6
    header += struct.pack(
        "<IIIIIIIII",
        0,  # directory sectors: always 0 in version 3
        fat_sectors,
        dir_start,
        0,  # transaction signature
        MINI_STREAM_CUTOFF,
        mini_fat_start if mini_fat_sectors else ENDOFCHAIN,
        mini_fat_sectors,
        ENDOFCHAIN,  # first DIFAT sector
        0,  # DIFAT sectors
    )
    difat = list(range(fat_sectors)) + [FREESECT] * (_HEADER_DIFAT_SLOTS - fat_sectors)
    header += struct.pack(f"<{_HEADER_DIFAT_SLOTS}I", *difat)

    directory = bytearray()
    for entry in entries:
        encoded = (entry.name + "\x00").encode("utf-16-le")
        if len(encoded) > 64:
            raise ValueError(f"name too long for a compound file: {entry.name!r}")
        size = len(mini_stream) if entry.kind == _ROOT else len(entry.data)
        start = 0 if entry.kind == _STORAGE else entry.start
        directory += encoded.ljust(64, b"\x00")
        directory += struct.pack(
            "<HBBIII", len(encoded), entry.kind, entry.color, entry.left, entry.right, entry.child
        )
        directory += b"\x00" * 16  # CLSID
        directory += b"\x00" * 4  # state bits
        directory += b"\x00" * 16  # creation and modification time
        directory += struct.pack("<IQ", start, size)
    unused = b"\x00" * 64 + struct.pack("<HBBIII", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM)
    directory += (unused + b"\x00" * 48) * (-len(entries) % (SECTOR_SIZE // ENTRY_SIZE))

    body = bytearray()
    body += struct.pack(f"<{len(fat)}I", *fat)
    body += directory
    body += _pad(struct.pack(f"<{len(mini_fat)}I", *mini_fat), SECTOR_SIZE)
    body += _pad(bytes(mini_stream), SECTOR_SIZE)
    for entry in big:
        body += _pad(entry.data, SECTOR_SIZE)
    return bytes(header) + bytes(body)


def read_compound_file(data: bytes) -> dict[str, bytes]:
    """Every stream of a compound file, by path (``"VBA/dir"``)."""
    if data[:8] != SIGNATURE:
        raise CompoundFileError("not a compound file (bad signature)")
    sector_shift, mini_shift = struct.unpack_from("<HH", data, 30)
    sector_size = 1 << sector_shift
    mini_size = 1 << mini_shift
    (_, fat_count, dir_start, _, cutoff, mini_fat_start, _, difat_start, difat_count) = (
        struct.unpack_from("<9I", data, 40)
    )

    def sector(index: int) -> bytes:
        offset = (index + 1) * sector_size
        if offset >= len(data):
            raise CompoundFileError(f"sector {index} lies past the end of the file")
        return data[offset : offset + sector_size]

    difat = list(struct.unpack_from(f"<{_HEADER_DIFAT_SLOTS}I", data, 76))
    next_difat = difat_start
    for _ in range(difat_count):
        if next_difat in (ENDOFCHAIN, FREESECT):
            break
        values = struct.unpack(f"<{sector_size // 4}I", sector(next_difat))
        difat.extend(values[:-1])
        next_difat = values[-1]
    fat: list[int] = []
    for index in difat[:fat_count]:
        fat.extend(struct.unpack(f"<{sector_size // 4}I", sector(index)))

    def follow(start: int, table: list[int]) -> list[int]:
        chain: list[int] = []
        while start not in (ENDOFCHAIN, FREESECT):
            if start >= len(table) or len(chain) > len(table):
                raise CompoundFileError("broken sector chain")
            chain.append(start)
            start = table[start]
        return chain

    def read_chain(start: int) -> bytes:
        return b"".join(sector(i) for i in follow(start, fat))

    directory = read_chain(dir_start)
    raw_entries = [directory[i : i + ENTRY_SIZE] for i in range(0, len(directory), ENTRY_SIZE)]
    mini_fat_bytes = read_chain(mini_fat_start)
    mini_fat = list(struct.unpack(f"<{len(mini_fat_bytes) // 4}I", mini_fat_bytes))
    root_start, root_size = struct.unpack_from("<IQ", raw_entries[0], 116)
    mini_stream = read_chain(root_start)[:root_size]

    def stream_bytes(start: int, size: int) -> bytes:
        if size < cutoff:
            chain = follow(start, mini_fat)
            blob = b"".join(mini_stream[i * mini_size : (i + 1) * mini_size] for i in chain)
        else:
            blob = read_chain(start)
        return blob[:size]

    streams: dict[str, bytes] = {}

    def walk(sid: int, prefix: str, seen: set[int]) -> None:
        if sid == NOSTREAM:
            return
        if sid in seen or sid >= len(raw_entries):
            raise CompoundFileError("broken directory tree")
        seen.add(sid)
        raw = raw_entries[sid]
        name_length, kind, _, left, right, child = struct.unpack_from("<HBBIII", raw, 64)
        name = raw[: max(name_length - 2, 0)].decode("utf-16-le")
        start, size = struct.unpack_from("<IQ", raw, 116)
        walk(left, prefix, seen)
        walk(right, prefix, seen)
        if kind == _STREAM:
            streams[prefix + name] = stream_bytes(start, size)
        elif kind == _STORAGE:
            walk(child, f"{prefix}{name}/", seen)

    root_child = struct.unpack_from("<I", raw_entries[0], 76)[0]
    walk(root_child, "", set())
    return streams
