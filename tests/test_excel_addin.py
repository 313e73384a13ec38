"""The Excel add-in: its VBA read back by independent readers, its ribbon checked, its build
reproducible, its install steps.

Independent readers: olevba (oletools) and LibreOffice headless for the VBA project, olefile for
the compound file. The round trip uses the ribbon add-in xlwings ships as a file Office made.
"""

import os
import random
import re
import struct
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import olefile
import pytest
import xlwings
from hypothesis import given, settings
from hypothesis import strategies as st
from libreoffice import convert

from addin.xlam import (
    RIBBON_ACTIONS,
    AddinInstallError,
    VbaModule,
    build_addin,
    build_vba_project,
    install_addin,
    read_vba_project,
)
from addin.xlam.build import PROJECT, build_package
from addin.xlam.cfb import read_compound_file, write_compound_file
from addin.xlam.compression import compress, decompress
from addin.xlam.customui import NAMESPACE, custom_ui_problems
from addin.xlam.package import (
    CUSTOM_UI_PART,
    CUSTOM_UI_RELATIONSHIP,
    VBA_PROJECT_PART,
    read_part,
)
from addin.xlam.ribbon import (
    BUTTONS,
    CALLBACKS_FILE,
    CUSTOM_UI_FILE,
    render_callbacks,
    render_custom_ui,
)
from addin.xlam.vba_sources import (
    PROJECT_NAME,
    XLWINGS_ADDIN_BAS,
    XLWINGS_RIBBON_ADDIN,
    addin_modules,
)
from addin.xlam.xlwings_rewrites import rewrite_xlwings_vba

with warnings.catch_warnings():  # oletools uses pyparsing names pyparsing now deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser, decompress_stream

EXPECTED_ACTIONS = {
    "users.check",
    "users.simulate",
    "users.apply",
    "links.check",
    "links.simulate",
    "links.apply",
    "roster.check",
    "roster.simulate",
    "roster.apply",
    "autocreate.simulate",
    "autocreate.apply",
    "template.new",
    "lookup",
    "coverage",
    "activation.send",
    "letters",
    "user.rename",
    "user.merge",
    "lifecycle.year-end",
    "batches.undo",
}
EXTENSIONS = {"standard": "bas", "class": "cls", "document": "cls"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The add-in as .xlam, and the same VBA project in an .xlsm for LibreOffice."""
    folder = tmp_path_factory.mktemp("addin")
    return {
        "xlam": build_addin(folder / "ParentPortal.xlam"),
        "xlsm": build_package(folder / "ParentPortal.xlsm", "xlsm"),
    }


@pytest.fixture(scope="module")
def modules() -> list[VbaModule]:
    return addin_modules()


def olevba_modules(path: Path | bytes) -> dict[str, str]:
    """Module file name (``xlwings.bas``) -> source, as olevba extracts it."""
    if isinstance(path, bytes):
        parser = VBA_Parser("vbaProject.bin", data=path)
    else:
        parser = VBA_Parser(str(path))
    try:
        found: dict[str, str] = {}
        for _, _, filename, code in parser.extract_macros():
            assert filename not in found, f"olevba lists {filename} twice"
            found[filename] = code
        return found
    finally:
        parser.close()


def dir_records(vba_project: bytes) -> list[tuple[int, bytes]]:
    """The records of the decompressed dir stream, read with olefile and olevba's
    decompressor (independent of the module under test)."""
    with olefile.OleFileIO(vba_project) as ole:
        data = bytes(decompress_stream(bytearray(ole.openstream("VBA/dir").read())))
    records: list[tuple[int, bytes]] = []
    position = 0
    while position < len(data):
        record_id, size = struct.unpack_from("<HI", data, position)
        if record_id == 0x0009:
            size = 6
        records.append((record_id, data[position + 6 : position + 6 + size]))
        position += 6 + size
    return records


# --- done when: two independent readers see our VBA ---------------------------------------


def test_olevba_lists_every_module_with_our_source(
    built: dict[str, Path], modules: list[VbaModule]
) -> None:
    expected = {f"{m.name}.{EXTENSIONS[m.kind]}": m.code for m in modules}
    found = olevba_modules(built["xlam"])
    assert sorted(found) == sorted(expected)
    for name, code in expected.items():
        assert found[name] == code, f"olevba reads {name} differently"
    assert {"ThisWorkbook.cls", "Sheet1.cls", "xlwings.bas", "Dictionary.cls"} <= set(found)
    assert "PortalRibbon.bas" in found


_LO_HEADER = {
    "standard": ["Rem Attribute VBA_ModuleType=VBAModule", "Option VBASupport 1"],
    "class": [
        "Rem Attribute VBA_ModuleType=VBAClassModule",
        "Option VBASupport 1",
        "Option ClassModule",
    ],
    "document": ["Rem Attribute VBA_ModuleType=VBADocumentModule", "Option VBASupport 1"],
}


_LIBRARY = "http://openoffice.org/2000/library"


def libreoffice_view(module: VbaModule) -> str:
    """The Basic source LibreOffice makes of a VBA module: a header of its own, our lines
    without the ``Attribute`` lines (Office hides them too), each ended by a newline."""
    header = "".join(line + "\n" for line in _LO_HEADER[module.kind])
    lines = module.code.split("\r\n")
    return header + "".join(line + "\n" for line in lines if not line.startswith("Attribute "))


def test_libreoffice_reads_the_same_modules(
    built: dict[str, Path], modules: list[VbaModule], tmp_path: Path
) -> None:
    ods = convert(built["xlsm"], "ods", tmp_path / "ods")
    library = PROJECT.name
    with zipfile.ZipFile(ods) as package:
        index = SafeET.fromstring(package.read(f"Basic/{library}/script-lb.xml"))
        listed = sorted(element.attrib[f"{{{_LIBRARY}}}name"] for element in index)
        assert listed == sorted(m.name for m in modules)
        for module in modules:
            root = SafeET.fromstring(package.read(f"Basic/{library}/{module.name}.xml"))
            assert root.text == libreoffice_view(module), f"LibreOffice reads {module.name}"


# --- done when: a round trip of xlwings' own ribbon add-in ----------------------------------


def test_round_trip_of_the_ribbon_addin_xlwings_ships() -> None:
    original = read_part(XLWINGS_RIBBON_ADDIN, VBA_PROJECT_PART)
    modules, project = read_vba_project(original)

    # Our reader agrees with olevba on the file Office wrote.
    found = olevba_modules(original)
    assert {f"{m.name}.{EXTENSIONS[m.kind]}": m.code for m in modules} == found
    assert {m.name for m in modules} >= {"xlwings", "Dictionary", "RibbonMyAddin"}

    regenerated = build_vba_project(modules, project)
    again_modules, again_project = read_vba_project(regenerated)
    assert again_modules == modules
    assert again_project == project
    assert olevba_modules(regenerated) == found

    # Record by record, the dir streams differ only where MS-OVBA tells a writer what to
    # write: cookies (0xFFFF) and text offsets (0: no performance cache).
    version_specific = {0x0013, 0x002C, 0x0031}
    ours = dir_records(regenerated)
    theirs = dir_records(original)
    assert [r for r, _ in ours] == [r for r, _ in theirs]
    for (record_id, body), (_, original_body) in zip(ours, theirs, strict=True):
        if record_id in version_specific:
            continue
        assert body == original_body, f"record 0x{record_id:04X} differs"
    assert {body for r, body in ours if r in (0x0013, 0x002C)} == {b"\xff\xff"}
    assert {body for r, body in ours if r == 0x0031} == {b"\x00\x00\x00\x00"}

    with olefile.OleFileIO(original) as ole_a, olefile.OleFileIO(regenerated) as ole_b:
        assert sorted(map(tuple, ole_a.listdir())) == sorted(map(tuple, ole_b.listdir()))
        assert ole_a.openstream("PROJECTwm").read() == ole_b.openstream("PROJECTwm").read()
        project_a = ole_a.openstream("PROJECT").read().decode("cp1252").split("\r\n")
        project_b = ole_b.openstream("PROJECT").read().decode("cp1252").split("\r\n")
    obfuscated = ("CMG=", "DPB=", "GC=")
    assert [x for x in project_a if not x.startswith(obfuscated)] == [
        x for x in project_b if not x.startswith(obfuscated)
    ]


# --- done when: the ribbon and the VBA agree -------------------------------------------------

_SUB = re.compile(
    r"^(?:Public\s+)?Sub\s+(\w+)\s*\(\s*control\s+As\s+IRibbonControl\s*\)\s*$",
    re.MULTILINE | re.IGNORECASE,
)
_RUN_PYTHON = re.compile(
    r"""^\s*RunPython\s+"import addin\.excel\.entry; addin\.excel\.entry\.run\('([^']*)'\)"\s*$""",
    re.MULTILINE,
)


def _built_ribbon(xlam: Path) -> Element:
    return SafeET.fromstring(read_part(xlam, CUSTOM_UI_PART))


def _built_sources(xlam: Path) -> dict[str, str]:
    """Module name -> source in the built add-in, as olevba reads it."""
    return {name.rpartition(".")[0]: code for name, code in olevba_modules(xlam).items()}


def test_every_on_action_names_a_ribbon_callback_sub(built: dict[str, Path]) -> None:
    modules = _built_sources(built["xlam"])
    buttons = list(_built_ribbon(built["xlam"]).iter(f"{{{NAMESPACE}}}button"))
    assert len(buttons) == len(EXPECTED_ACTIONS) + 1  # and Self-Test
    called: set[tuple[str, str]] = set()
    for button in buttons:
        module_name, _, sub = button.attrib["onAction"].rpartition(".")
        assert module_name in modules, f"{button.attrib['id']}: no module {module_name}"
        subs = set(_SUB.findall(modules[module_name]))
        assert sub in subs, f"{button.attrib['id']}: no Sub {sub}(control As IRibbonControl)"
        called.add((module_name, sub))
    callbacks = {m for m, _ in called}
    declared = {(m, s) for m in callbacks for s in _SUB.findall(modules[m])}
    assert declared == called, "a callback Sub no button calls"


def test_no_button_runs_without_a_workbook(built: dict[str, Path]) -> None:
    """With no workbook open, or only one in Protected View, Excel's ActiveWorkbook is Nothing:
    every button then says what to do instead of failing with run-time error 91."""
    callbacks = _built_sources(built["xlam"])["PortalRibbon"]
    check = re.search(
        r"Private Function WorkbookIsReady\(\) As Boolean\r\n(.*?)End Function",
        callbacks,
        re.DOTALL,
    )
    assert check and "If ActiveWorkbook Is Nothing Then" in check[1]
    assert 'MsgBox "Open a Parent Portal workbook first' in check[1]
    bodies = re.findall(
        r"Sub \w+\(control As IRibbonControl\)\r\n(.*?)End Sub", callbacks, re.DOTALL
    )
    assert len(bodies) == len(BUTTONS)
    assert all(body.startswith("    If Not WorkbookIsReady() Then Exit Sub\r\n") for body in bodies)


def test_every_run_python_names_a_ribbon_action(built: dict[str, Path]) -> None:
    assert set(RIBBON_ACTIONS) == EXPECTED_ACTIONS
    assert len(RIBBON_ACTIONS) == len(EXPECTED_ACTIONS)
    callbacks = _built_sources(built["xlam"])["PortalRibbon"]
    assert callbacks.count("RunPython") == len(_RUN_PYTHON.findall(callbacks))
    actions = _RUN_PYTHON.findall(callbacks)
    assert sorted(actions) == sorted(b.action for b in BUTTONS)  # RIBBON_ACTIONS and Self-Test
    # Each button's Sub runs that button's own action.
    sub_bodies = re.findall(
        r"Sub (\w+)\(control As IRibbonControl\)\r\n(.*?)End Sub", callbacks, re.DOTALL
    )
    runs = {sub: _RUN_PYTHON.findall(body) for sub, body in sub_bodies}
    assert {b.callback: [b.action] for b in BUTTONS} == runs


def test_sources_are_the_rendered_ribbon_data() -> None:
    assert CUSTOM_UI_FILE.read_text(encoding="utf-8") == render_custom_ui(), (
        "run: uv run python -m addin.xlam.render"
    )
    assert CALLBACKS_FILE.read_bytes().decode("cp1252") == render_callbacks(), (
        "run: uv run python -m addin.xlam.render"
    )
    for button in BUTTONS:
        assert button.label and button.image_mso and button.screentip and button.group


# --- done when: customUI14 and nothing outside the schema ------------------------------------


def test_ribbon_xml_is_customui14_within_the_allow_list(built: dict[str, Path]) -> None:
    xml = read_part(built["xlam"], CUSTOM_UI_PART)
    root = SafeET.fromstring(xml)
    assert root.tag == f"{{{NAMESPACE}}}customUI"
    assert NAMESPACE == "http://schemas.microsoft.com/office/2009/07/customui"
    assert all(element.tag.startswith(f"{{{NAMESPACE}}}") for element in root.iter())
    assert custom_ui_problems(xml) == []
    tab = root.find(f".//{{{NAMESPACE}}}tab")
    assert tab is not None and tab.attrib["label"] == "Parent Portal"
    groups = [g.attrib["label"] for g in tab]
    assert groups == [
        "Users Import",
        "Student Links",
        "Roster",
        "AutoCreate",
        "School Year",
        "Lookup",
    ]
    school_year = next(g for g in tab if g.attrib["label"] == "School Year")
    assert [b.attrib["label"] for b in school_year] == [
        "Coverage",
        "Send Activation",
        "Letters",
        "Rename Logon",
        "Merge Logons",
        "Year End",
        "Undo Batch",
    ]
    for button in root.iter(f"{{{NAMESPACE}}}button"):
        assert {"label", "imageMso", "screentip", "onAction"} <= set(button.attrib)

    with zipfile.ZipFile(built["xlam"]) as package:
        relationships = SafeET.fromstring(package.read("_rels/.rels"))
        types = SafeET.fromstring(package.read("[Content_Types].xml"))
    targets = {r.attrib["Type"]: r.attrib["Target"] for r in relationships}
    assert targets[CUSTOM_UI_RELATIONSHIP] == CUSTOM_UI_PART
    overrides = {t.attrib.get("PartName"): t.attrib["ContentType"] for t in types}
    assert overrides[f"/{CUSTOM_UI_PART}"] == "application/xml"
    assert overrides["/xl/workbook.xml"] == "application/vnd.ms-excel.addin.macroEnabled.main+xml"
    assert overrides[f"/{VBA_PROJECT_PART}"] == "application/vnd.ms-office.vbaProject"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda x: x.replace('size="large"', 'size="huge"', 1), "not normal or large"),
        (lambda x: x.replace("<button ", '<button color="red" ', 1), "no attribute 'color'"),
        (
            lambda x: x.replace("<group ", "<box ", 1).replace("</group>", "</box>", 1),
            "<box> is not an allowed element",
        ),
        (lambda x: x.replace("2009/07/customui", "2006/01/customui"), "namespace"),
        (lambda x: x.replace('id="UsersSimulate"', 'id="UsersCheck"'), "used twice"),
    ],
)
def test_allow_list_catches_what_the_schema_does_not_allow(
    change: Callable[[str], str], problem: str
) -> None:
    problems = custom_ui_problems(change(render_custom_ui()))
    assert any(problem in p for p in problems), problems


# --- done when: byte-for-byte reproducible ---------------------------------------------------


def test_build_is_byte_for_byte_reproducible(built: dict[str, Path], tmp_path: Path) -> None:
    again = build_addin(tmp_path / "again.xlam")
    assert again.read_bytes() == built["xlam"].read_bytes()
    # Another process with another hash seed gives the same bytes too.
    other = tmp_path / "other.xlam"
    code = (
        f"from pathlib import Path; from addin.xlam import build_addin; "
        f"build_addin(Path({str(other)!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
    assert other.read_bytes() == built["xlam"].read_bytes()
    with zipfile.ZipFile(built["xlam"]) as package:
        assert {info.date_time for info in package.infolist()} == {(1980, 1, 1, 0, 0, 0)}


# --- the VBA project itself -------------------------------------------------------------------


def test_vba_project_is_version_independent(built: dict[str, Path]) -> None:
    vba = read_part(built["xlam"], VBA_PROJECT_PART)
    _tree_is_valid(vba)
    with olefile.OleFileIO(vba) as ole:
        assert ole.openstream("VBA/_VBA_PROJECT").read() == bytes.fromhex("CC61FFFF000100")
        root_times = [(e.createTime, e.modifyTime) for e in ole.direntries if e is not None]
        assert set(root_times) == {(0, 0)}
        assert all(e.clsid in ("", None) for e in ole.direntries if e is not None)
    records = dir_records(vba)
    assert {body for r, body in records if r == 0x0031} == {b"\x00\x00\x00\x00"}
    # CMG, DPB and GC are keyed by the project ID (MS-OVBA 2.4.3), as Office's are.
    for data in (vba, read_part(XLWINGS_RIBBON_ADDIN, VBA_PROJECT_PART)):
        with olefile.OleFileIO(data) as ole:
            lines = ole.openstream("PROJECT").read().decode("cp1252").split("\r\n")
        project_id = next(x for x in lines if x.startswith("ID=")).removeprefix("ID=").strip('"')
        for line in lines:
            if line.startswith(("CMG=", "DPB=", "GC=")):
                raw = bytes.fromhex(line.partition("=")[2].strip('"'))
                assert raw[0] ^ raw[1] == 2  # version
                assert raw[0] ^ raw[2] == sum(project_id.encode()) & 0xFF
    names = [body.decode() for r, body in records if r == 0x0019]
    assert names == [
        "ThisWorkbook",
        "Sheet1",
        "xlwings",
        "Dictionary",
        "PortalRibbon",
        "xlwings_udfs",
    ]
    references = [body.decode() for r, body in records if r == 0x0016]
    assert references == ["stdole", "Office"]  # Office defines IRibbonControl


def test_xlwings_module_is_the_installed_one_with_our_project_name(
    modules: list[VbaModule],
) -> None:
    module = next(m for m in modules if m.name == "xlwings")
    shipped = XLWINGS_ADDIN_BAS.read_bytes().decode("cp1252").replace("\r\n", "\n")
    ours = module.code.replace("\r\n", "\n")
    # Besides the project name, only the rewrites that keep workbooks from supplying settings
    # or code (tests/test_addin_settings.py) differ.
    shipped = rewrite_xlwings_vba(shipped)
    changed = [(a, b) for a, b in zip(shipped.split("\n"), ours.split("\n"), strict=True) if a != b]
    assert changed == [
        (
            'Public Const PROJECT_NAME As String = "myaddin"',
            f'Public Const PROJECT_NAME As String = "{PROJECT_NAME}"',
        )
    ]
    assert f'XLWINGS_VERSION As String = "{xlwings.__version__}"' in ours


def test_modules_that_do_not_start_with_their_name_are_refused() -> None:
    with pytest.raises(ValueError, match="VB_Name"):
        build_vba_project([VbaModule("A", "standard", 'Attribute VB_Name = "B"\r\n')], PROJECT)
    twice = VbaModule("A", "standard", 'Attribute VB_Name = "A"\r\n')
    with pytest.raises(ValueError, match="same name"):
        build_vba_project([twice, twice], PROJECT)


# --- compression and the compound file ---------------------------------------------------------

_TEXTISH = st.text(alphabet="ab \r\n\tSub EndDim()\"'", max_size=12000)


@settings(max_examples=60, deadline=None)
@given(_TEXTISH)
def test_compression_round_trips_through_olevba(text: str) -> None:
    data = text.encode("cp1252")
    container = compress(data)
    assert decompress(container) == data
    assert bytes(decompress_stream(bytearray(container))) == data


def test_compression_edge_cases() -> None:
    assert compress(b"") == b"\x01"
    assert decompress(b"\x01") == b""
    runs = b" " * 10000 + b"x" * 5000
    assert bytes(decompress_stream(bytearray(compress(runs)))) == runs
    assert len(compress(runs)) < 400
    noise = random.Random(7).randbytes(8192)  # two raw chunks
    assert bytes(decompress_stream(bytearray(compress(noise)))) == noise
    with pytest.raises(ValueError, match="cannot be stored exactly"):
        compress(random.Random(7).randbytes(4000))


_RED, _BLACK = 0, 1  # MS-CFB 2.6.1 color flags


def _tree_is_valid(data: bytes) -> None:
    """Check each storage's children form a red-black search tree ordered as MS-CFB says."""
    with olefile.OleFileIO(data) as ole:
        entries = ole.direntries

        def key(sid: int) -> tuple[int, str]:
            return (len(entries[sid].name), entries[sid].name.upper())

        def check(sid: int, parent_red: bool) -> tuple[list[int], int]:
            if sid == olefile.NOSTREAM:
                return [], 1
            entry = entries[sid]
            red = entry.color == _RED
            assert not (red and parent_red), "two red nodes in a row"
            left, black_left = check(entry.sid_left, red)
            right, black_right = check(entry.sid_right, red)
            assert black_left == black_right, "unequal black heights"
            return [*left, sid, *right], black_left + (0 if red else 1)

        for entry in entries:
            if entry is None or entry.entry_type not in (olefile.STGTY_STORAGE, olefile.STGTY_ROOT):
                continue
            if entry.sid_child != olefile.NOSTREAM:
                assert entries[entry.sid_child].color == _BLACK
            order, _ = check(entry.sid_child, False)
            assert [key(s) for s in order] == sorted(key(s) for s in order)


def test_compound_file_reads_back_with_olefile() -> None:
    streams = {
        "PROJECT": b"x" * 10,
        "empty": b"",
        "VBA/big": bytes(range(256)) * 40,
        "VBA/small": b"small",
        "VBA/_VBA_PROJECT": b"\xcc\x61",
        "VBA/dir": b"d" * 4096,
        **{f"VBA/Module{n}": bytes([n]) * (n * 97) for n in range(1, 30)},
        "Deep/er/stream": b"deep",
    }
    data = write_compound_file(streams)
    assert write_compound_file(streams) == data
    with olefile.OleFileIO(data, raise_defects=olefile.DEFECT_INCORRECT) as ole:
        for path, blob in streams.items():
            assert ole.openstream(path).read() == blob
        assert len(ole.listdir()) == len(streams)
    assert read_compound_file(data) == streams
    _tree_is_valid(data)
    shipped = read_compound_file(read_part(XLWINGS_RIBBON_ADDIN, VBA_PROJECT_PART))
    _tree_is_valid(write_compound_file(shipped))


# --- install -------------------------------------------------------------------------------------


def test_install_on_windows_copies_to_xlstart_and_writes_settings(
    built: dict[str, Path], tmp_path: Path
) -> None:
    appdata, profile = tmp_path / "Roaming", tmp_path / "profile"
    config = profile / f".{PROJECT_NAME}" / f"{PROJECT_NAME}.conf"
    config.parent.mkdir(parents=True)
    config.write_text('"SHOW CONSOLE","True"\n"PYTHONPATH","old"\n', encoding="utf-8")
    message = install_addin(
        built["xlam"],
        platform="win32",
        home=tmp_path,
        environ={"APPDATA": str(appdata), "USERPROFILE": str(profile)},
        python=r"C:\portal\.venv\Scripts\python.exe",
    )
    installed = appdata / "Microsoft" / "Excel" / "XLSTART" / "ParentPortal.xlam"
    assert installed.read_bytes() == built["xlam"].read_bytes()
    root = Path(__file__).resolve().parents[1]
    assert config.read_text(encoding="utf-8").splitlines() == [
        '"SHOW CONSOLE","True"',
        r'"INTERPRETER_WIN","C:\portal\.venv\Scripts\python.exe"',
        f'"PYTHONPATH","{root}"',
        '"UDF MODULES","addin.excel.functions"',
    ]
    assert str(installed) in message
    assert "start Excel again" in message


def test_install_on_macos_uses_the_startup_folder_and_sandbox(
    built: dict[str, Path], tmp_path: Path
) -> None:
    message = install_addin(
        built["xlam"],
        platform="darwin",
        home=tmp_path,
        environ={},
        python="/Users/it/portal/.venv/bin/python",
    )
    startup = tmp_path / "Library/Group Containers/UBF8T346G9.Office/User Content/Startup/Excel"
    assert (startup / "ParentPortal.xlam").is_file()
    config = tmp_path / "Library/Containers/com.microsoft.Excel/Data" / f"{PROJECT_NAME}.conf"
    assert '"INTERPRETER_MAC","/Users/it/portal/.venv/bin/python"' in config.read_text()
    script = (
        tmp_path
        / "Library/Application Scripts/com.microsoft.Excel"
        / (f"xlwings-{xlwings.__version__}.applescript")
    )
    assert script.is_file()
    assert "Cmd-Q" in message and "Enable Macros" in message


def test_install_elsewhere_says_excel_is_not_here(built: dict[str, Path], tmp_path: Path) -> None:
    message = install_addin(built["xlam"], platform="linux", home=tmp_path)
    assert "Excel is not available" in message
    assert str(built["xlam"].resolve()) in message
    assert not any(tmp_path.iterdir())
    with pytest.raises(AddinInstallError, match="portal addin build"):
        install_addin(tmp_path / "missing.xlam", platform="win32", home=tmp_path)
