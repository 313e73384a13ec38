"""The ``.xlam`` (or ``.xlsm``) zip package: workbook parts, the VBA project and the ribbon.

One hidden-by-nature add-in workbook with a single "About" sheet, the ``vbaProject.bin`` part,
and the ribbon XML as a customUI14 part (``customUI/customUI14.xml``, relationship type
``.../2007/relationships/ui/extensibility``, content type ``application/xml``, as Excel 2010 and
later read it). The package's content types and relationships are written by the OPC module.
Entries are written in a fixed order with a fixed timestamp, so the same inputs give
the same bytes. The ``.xlsm`` form exists because LibreOffice reads the VBA of an ``.xlsm`` but
refuses an ``.xlam``.
"""

import zipfile
from pathlib import Path
from typing import Literal
from xml.sax.saxutils import escape

from addin.files import opc

PackageKind = Literal["xlam", "xlsm"]

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_MAX_PART = 64 * 1024 * 1024

_MAIN_TYPES = {
    "xlam": "application/vnd.ms-excel.addin.macroEnabled.main+xml",
    "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.main+xml",
}
_REL = opc.REL_NS
_PKG_REL = opc.PACKAGE_REL_NS
_MAIN = opc.MAIN_NS
CUSTOM_UI_PART = "customUI/customUI14.xml"
CUSTOM_UI_RELATIONSHIP = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
VBA_PROJECT_PART = "xl/vbaProject.bin"
VBA_PROJECT_RELATIONSHIP = "http://schemas.microsoft.com/office/2006/relationships/vbaProject"
VBA_PROJECT_TYPE = "application/vnd.ms-office.vbaProject"

_XML_HEAD = opc.XML_DECLARATION


def _content_types(kind: PackageKind) -> bytes:
    overrides = {
        "xl/workbook.xml": _MAIN_TYPES[kind],
        "xl/worksheets/sheet1.xml": (
            "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
        ),
        "xl/styles.xml": "application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml",
        VBA_PROJECT_PART: VBA_PROJECT_TYPE,
        CUSTOM_UI_PART: "application/xml",
        "docProps/core.xml": "application/vnd.openxmlformats-package.core-properties+xml",
        "docProps/app.xml": (
            "application/vnd.openxmlformats-officedocument.extended-properties+xml"
        ),
    }
    defaults = {"rels": opc.RELS_CONTENT_TYPE, "xml": "application/xml"}
    return opc.content_types_xml(defaults, overrides)


def _root_relationships() -> bytes:
    return opc.relationships_xml(
        [
            ("rId1", f"{_REL}/officeDocument", "xl/workbook.xml"),
            ("rId2", f"{_PKG_REL}/metadata/core-properties", "docProps/core.xml"),
            ("rId3", f"{_REL}/extended-properties", "docProps/app.xml"),
            ("rId4", CUSTOM_UI_RELATIONSHIP, CUSTOM_UI_PART),
        ]
    )


def _workbook_relationships() -> bytes:
    return opc.relationships_xml(
        [
            ("rId1", f"{_REL}/worksheet", "worksheets/sheet1.xml"),
            ("rId2", f"{_REL}/styles", "styles.xml"),
            ("rId3", VBA_PROJECT_RELATIONSHIP, "vbaProject.bin"),
        ]
    )


def _workbook(sheet_name: str) -> str:
    return (
        _XML_HEAD
        + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
        + '<workbookPr codeName="ThisWorkbook"/>'
        + "<bookViews><workbookView/></bookViews>"
        + f'<sheets><sheet name="{escape(sheet_name)}" sheetId="1" r:id="rId1"/></sheets>'
        + "</workbook>"
    )


def _sheet(lines: list[str]) -> str:
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t xml:space="preserve">'
        f"{escape(text)}</t></is></c></row>"
        for n, text in enumerate(lines, start=1)
    )
    return (
        _XML_HEAD
        + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
        + '<sheetPr codeName="Sheet1"/>'
        + '<sheetViews><sheetView workbookViewId="0"/></sheetViews>'
        + '<cols><col min="1" max="1" width="100" customWidth="1"/></cols>'
        + f"<sheetData>{rows}</sheetData>"
        + "</worksheet>"
    )


_STYLES = (
    _XML_HEAD
    + f'<styleSheet xmlns="{_MAIN}">'
    + '<fonts count="1"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    + '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    + '<fill><patternFill patternType="gray125"/></fill></fills>'
    + '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    + '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
    + '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    + "</styleSheet>"
)


def _core(title: str) -> str:
    return (
        _XML_HEAD
        + "<cp:coreProperties "
        + 'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        + 'xmlns:dc="http://purl.org/dc/elements/1.1/">'
        + f"<dc:title>{escape(title)}</dc:title>"
        + "</cp:coreProperties>"
    )


def _app() -> str:
    return (
        _XML_HEAD
        + "<Properties "
        + 'xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
        + "<Application>Microsoft Excel</Application>"
        + "</Properties>"
    )


def package_parts(
    kind: PackageKind,
    vba_project: bytes,
    custom_ui: str,
    title: str,
    about: list[str],
) -> dict[str, bytes]:
    """Every part of the package by name, in the order they are written."""
    utf8 = str.encode
    return {
        opc.CONTENT_TYPES_PART: _content_types(kind),
        opc.PACKAGE_RELS_PART: _root_relationships(),
        "docProps/core.xml": utf8(_core(title)),
        "docProps/app.xml": utf8(_app()),
        "xl/workbook.xml": utf8(_workbook("About")),
        "xl/_rels/workbook.xml.rels": _workbook_relationships(),
        "xl/worksheets/sheet1.xml": utf8(_sheet(about)),
        "xl/styles.xml": utf8(_STYLES),
        CUSTOM_UI_PART: utf8(custom_ui),
        VBA_PROJECT_PART: vba_project,
    }


def write_package(path: Path, parts: dict[str, bytes]) -> Path:
    """Write ``parts`` as a zip with fixed timestamps and attributes; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 0
            info.external_attr = 0
            archive.writestr(info, data, compresslevel=9)
    return path


def read_part(path: Path, name: str) -> bytes:
    """One part of a zip package, refusing parts larger than 64 MiB unpacked."""
    with opc.Package.open(path) as package:
        try:
            return package.read(name, _MAX_PART)
        except opc.PartTooLarge:
            raise ValueError(f"{path.name}: part {name} is too large") from None
