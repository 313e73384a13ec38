"""Read a ``vbaProject.bin`` back into modules and project records (MS-OVBA 2.3).

The builder uses it to take the Mac ``Dictionary`` class out of the ribbon add-in xlwings
ships; the tests use it to check that what we write reads back as what we meant. It reads
module source after any performance cache (the text offset), so files Office saved read too.
"""

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .cfb import read_compound_file
from .compression import decompress
from .ovba import (
    ControlReference,
    ModuleKind,
    ProjectInfo,
    ProjectReference,
    Reference,
    RegisteredReference,
    VbaModule,
    VbaProjectError,
    decrypt,
)


class _Records:
    """The records of a decompressed dir stream, read in order."""

    def __init__(self, data: bytes) -> None:
        self._items: list[tuple[int, bytes]] = []
        position = 0
        while position < len(data):
            record_id, size = struct.unpack_from("<HI", data, position)
            if record_id == 0x0009:  # PROJECTVERSION: its size field is a reserved 4
                self._items.append((record_id, data[position + 6 : position + 12]))
                position += 12
                continue
            self._items.append((record_id, data[position + 6 : position + 6 + size]))
            position += 6 + size
        self._index = 0

    def peek(self) -> int | None:
        return self._items[self._index][0] if self._index < len(self._items) else None

    def take(self, *expected: int) -> bytes:
        record_id = self.peek()
        if record_id not in expected:
            wanted = "/".join(f"0x{e:04X}" for e in expected)
            raise VbaProjectError(f"dir stream: expected record {wanted}, found {record_id}")
        self._index += 1
        return self._items[self._index - 1][1]

    def optional(self, record_id: int) -> bytes | None:
        return self.take(record_id) if self.peek() == record_id else None


def _u32(body: bytes) -> int:
    return int(struct.unpack_from("<I", body)[0])


def _u16(body: bytes) -> int:
    return int(struct.unpack_from("<H", body)[0])


def _sized(body: bytes, offset: int, encoding: str) -> tuple[str, int]:
    size = _u32(body[offset:])
    return body[offset + 4 : offset + 4 + size].decode(encoding), offset + 4 + size


def _text(records: _Records, record_id: int, unicode_id: int, encoding: str) -> str:
    text = records.take(record_id).decode(encoding)
    unicode = records.optional(unicode_id)
    return unicode.decode("utf-16-le") if unicode is not None else text


def _read_reference(records: _Records, encoding: str) -> Reference:
    name = None
    if records.peek() == 0x0016:
        name = _text(records, 0x0016, 0x003E, encoding)
    kind = records.peek()
    if kind == 0x000D:
        body = records.take(0x000D)
        return RegisteredReference(name, _sized(body, 0, encoding)[0])
    if kind == 0x000E:
        body = records.take(0x000E)
        absolute, offset = _sized(body, 0, encoding)
        relative, offset = _sized(body, offset, encoding)
        major, minor = struct.unpack_from("<IH", body, offset)
        return ProjectReference(name, absolute, relative, major, minor)
    original = None
    if kind == 0x0033:
        original = records.take(0x0033).decode(encoding)
    twiddled = _sized(records.take(0x002F), 0, encoding)[0]
    extended_name = None
    if records.peek() == 0x0016:
        extended_name = _text(records, 0x0016, 0x003E, encoding)
    body = records.take(0x0030)
    extended, offset = _sized(body, 0, encoding)
    offset += 6
    typelib = body[offset : offset + 16]
    cookie = _u32(body[offset + 16 :])
    return ControlReference(name, original, twiddled, extended_name, extended, typelib, cookie)


@dataclass
class _DirModule:
    name: str
    stream: str
    doc_string: str
    text_offset: int
    help_context: int
    procedural: bool
    read_only: bool
    private: bool


def _read_modules(records: _Records, encoding: str) -> Iterator[_DirModule]:
    count = _u16(records.take(0x000F))
    records.take(0x0013)
    for _ in range(count):
        name = records.take(0x0019).decode(encoding)
        unicode = records.optional(0x0047)
        if unicode is not None:
            name = unicode.decode("utf-16-le")
        stream = _text(records, 0x001A, 0x0032, encoding)
        doc = _text(records, 0x001C, 0x0048, encoding)
        offset = _u32(records.take(0x0031))
        help_context = _u32(records.take(0x001E))
        records.take(0x002C)
        procedural = records.peek() == 0x0021
        records.take(0x0021, 0x0022)
        read_only = records.optional(0x0025) is not None
        private = records.optional(0x0028) is not None
        records.take(0x002B)
        yield _DirModule(name, stream, doc, offset, help_context, procedural, read_only, private)


def _parse_project_stream(
    text: str,
) -> tuple[dict[str, str], dict[str, str], list[str], list[tuple[str, str]]]:
    """(properties, module kinds by name, host extender lines, workspace pairs)."""
    properties: dict[str, str] = {}
    kinds: dict[str, str] = {}
    hosts: list[str] = []
    workspace: list[tuple[str, str]] = []
    section = ""
    for line in text.split("\r\n"):
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section == "Host Extender Info":
            hosts.append(line)
            continue
        key, _, value = line.partition("=")
        if section == "Workspace":
            workspace.append((key, value))
        elif key in ("Document", "Module", "Class", "BaseClass"):
            kinds[value.split("/", 1)[0]] = key
        else:
            properties[key] = value.strip('"')
    return properties, kinds, hosts, workspace


def read_vba_project(data: bytes) -> tuple[list[VbaModule], ProjectInfo]:
    """The modules and project records of a ``vbaProject.bin``."""
    streams = read_compound_file(data)
    try:
        dir_data = decompress(streams["VBA/dir"])
        project_text = streams["PROJECT"]
    except KeyError as missing:
        raise VbaProjectError(f"no {missing.args[0]} stream") from None
    records = _Records(dir_data)
    sys_kind = _u32(records.take(0x0001))
    compat = records.optional(0x004A)
    lcid = _u32(records.take(0x0002))
    lcid_invoke = _u32(records.take(0x0014))
    code_page = _u16(records.take(0x0003))
    encoding = f"cp{code_page}"
    name = records.take(0x0004).decode(encoding)
    doc_string = _text(records, 0x0005, 0x0040, encoding)
    help_file = records.take(0x0006).decode(encoding)
    records.take(0x003D)
    help_context = _u32(records.take(0x0007))
    lib_flags = _u32(records.take(0x0008))
    version_major, version_minor = struct.unpack("<IH", records.take(0x0009))
    constants = _text(records, 0x000C, 0x003C, encoding)
    references: list[Reference] = []
    while records.peek() in (0x0016, 0x000D, 0x000E, 0x0033, 0x002F):
        references.append(_read_reference(records, encoding))
    dir_modules = list(_read_modules(records, encoding))
    records.take(0x0010)

    properties, kinds, hosts, workspace = _parse_project_stream(project_text.decode(encoding))
    project_id = properties.get("ID", "")
    project = ProjectInfo(
        name=name,
        project_id=project_id,
        references=tuple(references),
        doc_string=doc_string,
        help_file=help_file,
        help_context=help_context,
        lib_flags=lib_flags,
        version_major=version_major,
        version_minor=version_minor,
        constants=constants,
        sys_kind=sys_kind,
        compat_version=_u32(compat) if compat is not None else None,
        lcid=lcid,
        lcid_invoke=lcid_invoke,
        code_page=code_page,
        protection_state=_u32(decrypt(properties["CMG"])) if "CMG" in properties else 0,
        password=decrypt(properties["DPB"]) if "DPB" in properties else b"\x00",
        visibility_state=decrypt(properties["GC"])[0] if "GC" in properties else 0xFF,
        version_compatible32=properties.get("VersionCompatible32"),
        host_extenders=tuple(hosts),
        workspace=tuple(workspace),
    )
    modules: list[VbaModule] = []
    for entry in dir_modules:
        try:
            raw = streams[f"VBA/{entry.stream}"]
        except KeyError:
            raise VbaProjectError(f"no stream for module {entry.name!r}") from None
        kind: ModuleKind = "standard"
        if not entry.procedural:
            declared = kinds.get(entry.name, "Class")
            if declared == "BaseClass":
                raise VbaProjectError(f"module {entry.name!r} is a designer (form): unsupported")
            kind = "document" if declared == "Document" else "class"
        modules.append(
            VbaModule(
                name=entry.name,
                kind=kind,
                code=decompress(raw[entry.text_offset :]).decode(encoding),
                doc_string=entry.doc_string,
                help_context=entry.help_context,
                read_only=entry.read_only,
                private=entry.private,
                stream_name="" if entry.stream == entry.name else entry.stream,
            )
        )
    return modules, project
