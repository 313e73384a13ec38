"""A VBA project (MS-OVBA) as text in, ``vbaProject.bin`` out.

``build_vba_project`` writes the streams MS-OVBA 2.3 describes: ``PROJECT`` (the text project
properties), ``PROJECTwm`` (module names), ``VBA/dir`` (the compressed project information,
references and module records), one compressed source stream per module, and a
``VBA/_VBA_PROJECT`` stream in its version-independent form (MS-OVBA 2.3.4.1: version 0xFFFF and
no performance cache), so that Office compiles the project from the source we wrote. Cookies are
0xFFFF and module text offsets 0, as MS-OVBA asks of a writer; there is nothing random in it.

``ovba_reader.read_vba_project`` reads such a file back into the same values.

Written here rather than taken from PyPI: ``ms-ovba`` 0.0.1 seeds CMG/DPB/GC from ``random``
(not reproducible) and writes to the working directory, ``ms-ovba-compression`` 1.0.1 does not
cap copy-token lengths (long runs come out corrupt), ``ms-cfb`` 0.0.6 is early and pulls in two
more packages, and ``olefile`` reads compound files but cannot create one.
"""

import struct
from dataclasses import dataclass, field
from typing import Literal

from .cfb import write_compound_file
from .compression import compress

ModuleKind = Literal["standard", "class", "document"]

HOST_EXTENDER_VBE = "&H00000001={3832D640-CF90-11CF-8E43-00A0C911005A};VBE;&H00000000"
"""The host extender line every Office VBA project carries (PROJECT, [Host Extender Info])."""

_ENCRYPTION_SEED = 0x00
"""Seed of the CMG/DPB/GC obfuscation (MS-OVBA 2.4.3): fixed, so the same input gives the same
bytes. With it no ignored bytes are written, which MS-OVBA allows."""


class VbaProjectError(ValueError):
    """A ``vbaProject.bin`` whose structure this reader does not understand."""


@dataclass(frozen=True)
class VbaModule:
    """One module: its name, kind and source as Office stores it (with its ``Attribute`` lines).

    ``code`` uses CRLF line ends, like the VBA editor.
    """

    name: str
    kind: ModuleKind
    code: str
    doc_string: str = ""
    help_context: int = 0
    read_only: bool = False
    private: bool = False
    stream_name: str = ""

    @property
    def stream(self) -> str:
        """Name of the module's stream in the ``VBA`` storage."""
        return self.stream_name or self.name


@dataclass(frozen=True)
class RegisteredReference:
    """A reference to a registered type library (MS-OVBA 2.3.4.2.2.5), e.g. MSO.DLL."""

    name: str | None
    libid: str


@dataclass(frozen=True)
class ProjectReference:
    """A reference to another VBA project (MS-OVBA 2.3.4.2.2.6)."""

    name: str | None
    libid_absolute: str
    libid_relative: str
    major_version: int
    minor_version: int


@dataclass(frozen=True)
class ControlReference:
    """A reference to a twiddled type library of ActiveX controls (MS-OVBA 2.3.4.2.2.3)."""

    name: str | None
    libid_original: str | None
    libid_twiddled: str
    extended_name: str | None
    libid_extended: str
    original_typelib: bytes
    cookie: int


Reference = RegisteredReference | ProjectReference | ControlReference

STDOLE = RegisteredReference(
    "stdole",
    "*\\G{00020430-0000-0000-C000-000000000046}#2.0#0#C:\\Windows\\System32\\stdole2.tlb"
    "#OLE Automation",
)
OFFICE = RegisteredReference(
    "Office",
    "*\\G{2DF8D04C-5BFA-101B-BDE5-00AA0044DE52}#2.0#0"
    "#C:\\Program Files\\Common Files\\Microsoft Shared\\OFFICE16\\MSO.DLL"
    "#Microsoft Office 16.0 Object Library",
)
"""The Office object library: it defines ``IRibbonControl``. Office finds it by its GUID; the
path is a hint only."""


@dataclass(frozen=True)
class ProjectInfo:
    """The project-wide records of ``PROJECT`` and ``VBA/dir``, as values."""

    name: str
    project_id: str
    references: tuple[Reference, ...] = (STDOLE, OFFICE)
    doc_string: str = ""
    help_file: str = ""
    help_context: int = 0
    lib_flags: int = 0
    version_major: int = 1
    version_minor: int = 0
    constants: str = ""
    sys_kind: int = 3  # 64-bit Windows; Office compiles from source on any platform
    compat_version: int | None = None
    lcid: int = 0x0409
    lcid_invoke: int = 0x0409
    code_page: int = 1252
    protection_state: int = 0
    password: bytes = b"\x00"
    visibility_state: int = 0xFF
    version_compatible32: str | None = "393222000"
    host_extenders: tuple[str, ...] = (HOST_EXTENDER_VBE,)
    workspace: tuple[tuple[str, str], ...] = field(default=())

    @property
    def encoding(self) -> str:
        """Python codec of the project's code page (module names and source use it)."""
        return f"cp{self.code_page}"


def _record(record_id: int, body: bytes) -> bytes:
    return struct.pack("<HI", record_id, len(body)) + body


def _text_record(record_id: int, unicode_id: int, text: str, encoding: str) -> bytes:
    return _record(record_id, text.encode(encoding)) + _record(unicode_id, text.encode("utf-16-le"))


def _libid(text: str, encoding: str) -> bytes:
    raw = text.encode(encoding)
    return struct.pack("<I", len(raw)) + raw


def _name_record(name: str | None, encoding: str) -> bytes:
    if name is None:
        return b""
    return _text_record(0x0016, 0x003E, name, encoding)


def _reference_records(reference: Reference, encoding: str) -> bytes:
    out = _name_record(reference.name, encoding)
    if isinstance(reference, RegisteredReference):
        body = _libid(reference.libid, encoding) + struct.pack("<IH", 0, 0)
        return out + _record(0x000D, body)
    if isinstance(reference, ProjectReference):
        body = (
            _libid(reference.libid_absolute, encoding)
            + _libid(reference.libid_relative, encoding)
            + struct.pack("<IH", reference.major_version, reference.minor_version)
        )
        return out + _record(0x000E, body)
    if reference.libid_original is not None:
        out += _record(0x0033, reference.libid_original.encode(encoding))
    out += _record(0x002F, _libid(reference.libid_twiddled, encoding) + struct.pack("<IH", 0, 0))
    out += _name_record(reference.extended_name, encoding)
    extended = (
        _libid(reference.libid_extended, encoding)
        + struct.pack("<IH", 0, 0)
        + reference.original_typelib
        + struct.pack("<I", reference.cookie)
    )
    return out + _record(0x0030, extended)


def _module_records(module: VbaModule, encoding: str) -> bytes:
    out = _record(0x0019, module.name.encode(encoding))
    out += _record(0x0047, module.name.encode("utf-16-le"))
    out += _text_record(0x001A, 0x0032, module.stream, encoding)
    out += _text_record(0x001C, 0x0048, module.doc_string, encoding)
    out += _record(0x0031, struct.pack("<I", 0))  # text offset: no performance cache
    out += _record(0x001E, struct.pack("<I", module.help_context))
    out += _record(0x002C, struct.pack("<H", 0xFFFF))
    out += _record(0x0021 if module.kind == "standard" else 0x0022, b"")
    if module.read_only:
        out += _record(0x0025, b"")
    if module.private:
        out += _record(0x0028, b"")
    return out + _record(0x002B, b"")


def dir_stream(modules: list[VbaModule], project: ProjectInfo) -> bytes:
    """The uncompressed ``VBA/dir`` stream (MS-OVBA 2.3.4.2)."""
    enc = project.encoding
    out = _record(0x0001, struct.pack("<I", project.sys_kind))
    if project.compat_version is not None:
        out += _record(0x004A, struct.pack("<I", project.compat_version))
    out += _record(0x0002, struct.pack("<I", project.lcid))
    out += _record(0x0014, struct.pack("<I", project.lcid_invoke))
    out += _record(0x0003, struct.pack("<H", project.code_page))
    out += _record(0x0004, project.name.encode(enc))
    out += _text_record(0x0005, 0x0040, project.doc_string, enc)
    out += _record(0x0006, project.help_file.encode(enc))
    out += _record(0x003D, project.help_file.encode(enc))
    out += _record(0x0007, struct.pack("<I", project.help_context))
    out += _record(0x0008, struct.pack("<I", project.lib_flags))
    out += struct.pack("<HIIH", 0x0009, 4, project.version_major, project.version_minor)
    out += _text_record(0x000C, 0x003C, project.constants, enc)
    for reference in project.references:
        out += _reference_records(reference, enc)
    out += _record(0x000F, struct.pack("<H", len(modules)))
    out += _record(0x0013, struct.pack("<H", 0xFFFF))
    for module in modules:
        out += _module_records(module, enc)
    return out + _record(0x0010, b"")


def _encrypt(data: bytes, project_id: str, encoding: str) -> str:
    """MS-OVBA 2.4.3.2 data encryption, as the hex text of ``CMG``, ``DPB`` and ``GC``."""
    seed = _ENCRYPTION_SEED
    project_key = sum(project_id.encode(encoding)) & 0xFF
    out = bytearray([seed, seed ^ 2, seed ^ project_key])
    unencrypted, encrypted1, encrypted2 = project_key, out[2], out[1]
    for byte in struct.pack("<I", len(data)) + data:
        byte_enc = byte ^ ((encrypted2 + unencrypted) & 0xFF)
        out.append(byte_enc)
        encrypted2, encrypted1, unencrypted = encrypted1, byte_enc, byte
    return out.hex().upper()


def decrypt(text: str) -> bytes:
    """The data behind a ``CMG``, ``DPB`` or ``GC`` value (MS-OVBA 2.4.3.3)."""
    raw = bytes.fromhex(text)
    seed, version_enc, key_enc = raw[0], raw[1], raw[2]
    if seed ^ version_enc != 2:
        raise VbaProjectError("unknown data encryption version")
    project_key = seed ^ key_enc
    unencrypted, encrypted1, encrypted2 = project_key, key_enc, version_enc
    plain = bytearray()
    for byte_enc in raw[3:]:
        byte = byte_enc ^ ((encrypted2 + unencrypted) & 0xFF)
        plain.append(byte)
        encrypted2, encrypted1, unencrypted = encrypted1, byte_enc, byte
    ignored = (seed & 6) // 2
    length = struct.unpack_from("<I", plain, ignored)[0]
    data = bytes(plain[ignored + 4 :])
    if len(data) != length:
        raise VbaProjectError("encrypted project property has the wrong length")
    return data


def project_stream(modules: list[VbaModule], project: ProjectInfo) -> bytes:
    """The ``PROJECT`` stream: project properties as text (MS-OVBA 2.3.1)."""
    enc = project.encoding
    lines = [f'ID="{project.project_id}"']
    for module in modules:
        if module.kind == "document":
            lines.append(f"Document={module.name}/&H00000000")
        elif module.kind == "class":
            lines.append(f"Class={module.name}")
        else:
            lines.append(f"Module={module.name}")
    lines.append(f'Name="{project.name}"')
    lines.append(f'HelpContextID="{project.help_context}"')
    if project.help_file:
        lines.append(f'HelpFile="{project.help_file}"')
    if project.version_compatible32 is not None:
        lines.append(f'VersionCompatible32="{project.version_compatible32}"')
    secret = {
        "CMG": struct.pack("<I", project.protection_state),
        "DPB": project.password,
        "GC": bytes([project.visibility_state]),
    }
    for key, value in secret.items():
        lines.append(f'{key}="{_encrypt(value, project.project_id, enc)}"')
    lines += ["", "[Host Extender Info]", *project.host_extenders]
    if project.workspace:
        lines += ["", "[Workspace]", *(f"{name}={value}" for name, value in project.workspace)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode(enc)  # Office ends it with a blank line


def project_wm_stream(modules: list[VbaModule], project: ProjectInfo) -> bytes:
    """The ``PROJECTwm`` stream: each module name in the code page and in UTF-16."""
    out = bytearray()
    for module in modules:
        out += module.name.encode(project.encoding) + b"\x00"
        out += module.name.encode("utf-16-le") + b"\x00\x00"
    return bytes(out + b"\x00\x00")


VBA_PROJECT_STREAM = struct.pack("<HHBH", 0x61CC, 0xFFFF, 0x00, 0x0001)
"""``VBA/_VBA_PROJECT`` with version 0xFFFF and no performance cache (MS-OVBA 2.3.4.1)."""


def _check(modules: list[VbaModule]) -> None:
    names = [m.name.casefold() for m in modules]
    if len(set(names)) != len(names):
        raise ValueError("two modules have the same name")
    streams = [m.stream.casefold() for m in modules]
    if len(set(streams)) != len(streams) or {"dir", "_vba_project"} & set(streams):
        raise ValueError("module stream names must be unique and not dir or _VBA_PROJECT")
    for module in modules:
        if not module.code.startswith(f'Attribute VB_Name = "{module.name}"'):
            raise ValueError(f"module {module.name!r} must start with its VB_Name attribute")


def build_vba_project(modules: list[VbaModule], project: ProjectInfo) -> bytes:
    """The bytes of a ``vbaProject.bin`` holding ``modules``, compiled by Office on first load.

    Deterministic: the same modules and project give the same bytes.
    """
    _check(modules)
    enc = project.encoding
    streams = {
        "PROJECT": project_stream(modules, project),
        "PROJECTwm": project_wm_stream(modules, project),
        "VBA/_VBA_PROJECT": VBA_PROJECT_STREAM,
        "VBA/dir": compress(dir_stream(modules, project)),
    }
    for module in modules:
        streams[f"VBA/{module.stream}"] = compress(module.code.encode(enc))
    return write_compound_file(streams)
