"""No workbook supplies the add-in's settings or code: only the machine-wide file IT deploys and
the user's own file do, and the database set there reaches the add-in's Python.

The VBA is read back out of the built add-in with the project's own reader; what xlwings' Python
makes of the path the VBA hands it is run for real, against a hostile workbook folder.
"""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import openpyxl
import pytest
import xlwings as xw
from xlwings_double import FakeBook

import addin.xlam.install as install
from addin.excel import entry, settings_file
from addin.excel.settings_file import (
    addin_settings,
    load_addin_settings,
    machine_settings_path,
    user_settings_path,
)
from addin.xlam import build_addin, install_addin, read_vba_project
from addin.xlam.install import PROJECT_ROOT, settings_text
from addin.xlam.package import VBA_PROJECT_PART, read_part
from addin.xlam.vba_sources import PROJECT_NAME, XLWINGS_ADDIN_BAS
from addin.xlam.xlwings_rewrites import XlwingsRewriteError, rewrite_xlwings_vba
from backend.settings import get_settings

CONF = f"{PROJECT_NAME}.conf"
MARKER = "hostile-code-ran.txt"
EVIL_PYTHON = r"C:\Users\Public\evil\python.exe"
USERS = [
    ["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
    ["ann@example.org", "Ann", "Lee", "GUARDIAN"],
]


@pytest.fixture(scope="module")
def xlwings_vba(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The xlwings module's source, read back out of a freshly built add-in."""
    xlam = build_addin(tmp_path_factory.mktemp("addin") / "ParentPortal.xlam")
    modules, _ = read_vba_project(read_part(xlam, VBA_PROJECT_PART))
    return next(m.code for m in modules if m.name == "xlwings").replace("\r\n", "\n")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """An e-mailed workbook: a very hidden settings sheet naming another interpreter and asking
    for its folder on the path, a settings file and a ``sqlalchemy.py`` beside it."""
    folder = tmp_path / "Downloads"
    folder.mkdir()
    book = openpyxl.Workbook()
    book.active.title = "Users"
    for row in USERS:
        book.active.append(row)
    sheet = book.create_sheet(CONF)
    sheet.sheet_state = "veryHidden"
    for row in (
        ["INTERPRETER_WIN", EVIL_PYTHON],
        ["INTERPRETER_MAC", "/tmp/evil/python"],
        ["ADD_WORKBOOK_TO_PYTHONPATH", "true"],
        ["PYTHONPATH", str(folder)],
    ):
        sheet.append(row)
    book.save(folder / "users.xlsx")
    (folder / CONF).write_text(
        f'"INTERPRETER_WIN","{EVIL_PYTHON}"\n"ADD_WORKBOOK_TO_PYTHONPATH","true"\n'
        f'"PYTHONPATH","{folder}"\n"PORTAL_DATABASE_URL","sqlite:///{folder / "evil.sqlite"}"\n',
        encoding="utf-8",
    )
    (folder / "sqlalchemy.py").write_text(
        f"open({str(folder / MARKER)!r}, 'w').write('ran')\nraise SystemExit('hostile')\n",
        encoding="utf-8",
    )
    return folder


# --- the VBA --------------------------------------------------------------------------------------


def functions(vba: str) -> dict[str, str]:
    """Each Function or Sub of the module: name -> body."""
    found = re.finditer(
        r"^(?:Public |Private )?(?:Function|Sub) (\w+)\(.*?^End (?:Function|Sub)$",
        vba,
        re.MULTILINE | re.DOTALL,
    )
    return {match[1]: match[0] for match in found}


def code_of(body: str) -> str:
    """The body without its comments (an apostrophe outside a string starts one)."""
    lines = []
    for line in body.split("\n"):
        in_string = False
        for i, char in enumerate(line):
            if char == '"':
                in_string = not in_string
            elif char == "'" and not in_string:
                line = line[:i]
                break
        lines.append(line)
    return "\n".join(lines)


def reachable(vba: str, start: str) -> dict[str, str]:
    """The functions ``start`` may call, itself included, directly or not."""
    bodies = functions(vba)
    seen: dict[str, str] = {}
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = code_of(bodies[name])
        todo += [other for other in bodies if re.search(rf"\b{other}\b", seen[name])]
    return seen


def test_settings_are_read_from_no_sheet_and_no_workbook_folder(xlwings_vba: str) -> None:
    config = reachable(xlwings_vba, "GetConfig")
    assert {"GetMachineConfigFilePath", "GetConfigFilePath", "GetConfigFromFile"} <= set(config)
    for name, body in config.items():
        for reads_the_workbook in (
            "ActiveWorkbook",
            "ThisWorkbook",
            "Sheets",
            "wb.",
            "GetFullName",
            "GetDirectoryPath",
            "CurDir",
            "Application.Path",
        ):
            assert reads_the_workbook not in body, f"{name} uses {reads_the_workbook}"
    get_config = config["GetConfig"]
    assert get_config.index("GetMachineConfigFilePath()") < get_config.index("GetConfigFilePath()")
    machine = config["GetMachineConfigFilePath"]
    assert 'Environ("PROGRAMDATA") & "\\ParentPortal\\" & PROJECT_NAME & ".conf"' in machine
    mac_machine = machine_settings_path("darwin")
    assert mac_machine is not None and f'"{mac_machine.parent}/"' in machine
    for gone in ("GetConfigFromSheet", "GetDirectoryConfigFilePath", "ADD_WORKBOOK_TO_PYTHONPATH"):
        assert gone not in xlwings_vba


def test_the_workbook_never_goes_on_the_path(xlwings_vba: str) -> None:
    bodies = functions(xlwings_vba)
    for name in ("RunPython", "XLPyCommand"):
        body = code_of(bodies[name])
        assert set(re.findall(r"AddExcelDir = (.*?)\s*$", body, re.MULTILINE)) == {'"false"'}, name
        for assignment in re.findall(r"^\s*PYTHONPATH = (AddExcelDir.*)$", body, re.MULTILINE):
            assert assignment == 'AddExcelDir & ";;;;;;" & GetConfig("PYTHONPATH")'
        assert "If False Then" in body or name == "XLPyCommand"  # no *.py sheet runs
    assert code_of(bodies["ExecuteWindows"]).count(' -B -P -c ""import ') == 1
    assert code_of(bodies["XLPyCommand"]).count(' -B -P -c ""import ') == 1
    assert "If False Then" in code_of(bodies["GetUdfModules"])


def evaluate(expression: str, variables: dict[str, str], settings: dict[str, str]) -> str:
    """A VBA ``&`` concatenation of string literals, variables and ``GetConfig("KEY")``."""
    parts = re.findall(r'"(?:[^"]|"")*"|GetConfig\("[^"]*"\)|[\w.]+', expression)
    text = ""
    for part in parts:
        if part.startswith('"'):
            text += part[1:-1].replace('""', '"')
        elif part.startswith("GetConfig("):
            text += settings.get(part[len('GetConfig("') : -2], "")
        else:
            text += variables[part]
    return text


def python_path_sees(path_argument: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run what RunPython runs on Windows (``-B -P -c``, xlwings' ``prepare_sys_path``), with the
    workbook's folder as the current folder, and import SQLAlchemy."""
    command = (
        f"import xlwings.utils; xlwings.utils.prepare_sys_path({path_argument!r}); "
        "import sqlalchemy; print(sqlalchemy.__file__)"
    )
    return subprocess.run(
        [sys.executable, "-B", "-P", "-c", command], cwd=cwd, capture_output=True, text=True
    )


def test_a_hostile_workbook_puts_nothing_on_python_path(xlwings_vba: str, hostile: Path) -> None:
    workbook = hostile / "users.xlsx"
    assert openpyxl.load_workbook(workbook)[CONF].sheet_state == "veryHidden"
    variables = {
        "AddExcelDir": "false",
        "ActiveFullName": str(workbook),
        "ActiveWorkbook.FullName": str(workbook),
        "ThisFullName": str(PROJECT_ROOT / "ParentPortal.xlam"),
        "ThisWorkbook.FullName": str(PROJECT_ROOT / "ParentPortal.xlam"),
    }
    trusted = {"PYTHONPATH": str(PROJECT_ROOT)}
    run_python = code_of(functions(xlwings_vba)["RunPython"])
    for line in re.findall(r"^\s*PYTHONPATH = (.*)$", run_python, re.MULTILINE):
        seen = python_path_sees(evaluate(line, variables, trusted), hostile)
        assert seen.returncode == 0, seen.stderr
        assert not (hostile / MARKER).exists()
        assert not Path(seen.stdout.strip()).is_relative_to(hostile)
    # The same workbook against xlwings' VBA as shipped: its folder goes on the path, and its
    # sqlalchemy.py runs. This is what the rewrites prevent.
    shipped = XLWINGS_ADDIN_BAS.read_bytes().decode("cp1252").replace("\r\n", "\n")
    line = re.findall(r"^\s*PYTHONPATH = (AddExcelDir.*)$", shipped, re.MULTILINE)[1]
    hostile_settings = {**trusted, "PYTHONPATH": str(hostile)}
    seen = python_path_sees(
        evaluate(line, {**variables, "AddExcelDir": "true"}, hostile_settings), hostile
    )
    assert seen.returncode != 0 and (hostile / MARKER).exists()


def test_an_xlwings_without_the_expected_lines_fails_the_build() -> None:
    shipped = XLWINGS_ADDIN_BAS.read_bytes().decode("cp1252").replace("\r\n", "\n")
    moved = shipped.replace(
        "If GetConfigFromSheet(ActiveWorkbook)", "If  GetConfigFromSheet(Active)"
    )
    with pytest.raises(XlwingsRewriteError, match="GetConfig reads the machine-wide file"):
        rewrite_xlwings_vba(moved)
    later = 'AddExcelDir = GetConfig("ADD_WORKBOOK_TO_PYTHONPATH", "true")'
    added = f"{shipped}\nSub Later()\n    {later}\nEnd Sub\n"
    with pytest.raises(XlwingsRewriteError, match="expected 2 time"):
        rewrite_xlwings_vba(added)


# --- the Python side ------------------------------------------------------------------------------


def windows(tmp_path: Path) -> dict[str, str]:
    return {"PROGRAMDATA": str(tmp_path / "ProgramData"), "USERPROFILE": str(tmp_path / "josé")}


def test_python_takes_portal_settings_from_the_files_machine_first(tmp_path: Path) -> None:
    environ = windows(tmp_path)
    machine = machine_settings_path("win32", environ)
    user = user_settings_path("win32", tmp_path, environ)
    assert machine == tmp_path / "ProgramData" / "ParentPortal" / CONF
    assert user is not None and machine is not None
    for path, lines in (
        (
            machine,
            '"PORTAL_DATABASE_URL","postgresql://portal@db/district"\r\n"PYTHONPATH","C:\\x"',
        ),
        (
            user,
            '"portal_database_url","sqlite:///mine"\r\n"PORTAL_LOG_FOLDER","C:\\Users\\josé\\logs"',
        ),
    ):
        path.parent.mkdir(parents=True)
        path.write_bytes(lines.encode("cp1252"))
    assert (
        addin_settings("win32", tmp_path, environ)["PORTAL_LOG_FOLDER"] == "C:\\Users\\josé\\logs"
    )
    applied = load_addin_settings(environ, "win32", tmp_path)
    assert applied == {
        "PORTAL_DATABASE_URL": "postgresql://portal@db/district",
        "PORTAL_LOG_FOLDER": "C:\\Users\\josé\\logs",
    }
    assert environ["PORTAL_DATABASE_URL"] == "postgresql://portal@db/district"
    assert "PYTHONPATH" not in environ  # only PORTAL_* settings are Python's
    already = {**windows(tmp_path), "PORTAL_DATABASE_URL": "sqlite:///set-by-it"}
    load_addin_settings(already, "win32", tmp_path)
    assert already["PORTAL_DATABASE_URL"] == "sqlite:///set-by-it"  # the environment still wins


@pytest.fixture
def opened() -> Iterator[list[str]]:
    """Every file Python opens while the test runs."""
    paths: list[str] = []
    active = [True]

    def hook(event: str, args: tuple[object, ...]) -> None:
        if active[0] and event == "open" and isinstance(args[0], str | bytes | os.PathLike):
            paths.append(os.fsdecode(args[0]))

    sys.addaudithook(hook)
    yield paths
    active[0] = False


def test_the_entry_reads_nothing_of_the_workbook_folder(
    tmp_path: Path,
    hostile: Path,
    sqlite_template: Path,
    monkeypatch: pytest.MonkeyPatch,
    opened: list[str],
) -> None:
    environ = windows(tmp_path)
    machine = machine_settings_path("win32", environ)
    assert machine is not None
    database = tmp_path / "district.sqlite"
    database.write_bytes(sqlite_template.read_bytes())
    machine.parent.mkdir(parents=True)
    machine.write_bytes(f'"PORTAL_DATABASE_URL","sqlite:///{database}"\r\n'.encode("cp1252"))
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PORTAL_DATABASE_URL")
    monkeypatch.setattr(
        entry, "load_addin_settings", partial(load_addin_settings, platform="win32", home=tmp_path)
    )
    hidden = [
        [key, value]
        for key, value in (["INTERPRETER_WIN", EVIL_PYTHON], ["PORTAL_DATABASE_URL", "sqlite:///x"])
    ]
    book = FakeBook("users.xlsx", {"Users": USERS, CONF: hidden}, {"PortalTemplate": '="users"'})
    monkeypatch.setattr(xw.Book, "caller", staticmethod(lambda: book))
    monkeypatch.chdir(hostile)
    get_settings.cache_clear()
    entry.run("users.simulate")
    assert get_settings().database_url == f"sqlite:///{database}"
    assert not [path for path in opened if Path(path).resolve().is_relative_to(hostile)]
    assert [sheet.name for sheet in book.sheet_list].count("Import Log") == 1


# --- the installer --------------------------------------------------------------------------------


def test_settings_are_written_in_the_code_page_vba_reads(tmp_path: Path) -> None:
    path = tmp_path / CONF
    data = settings_text(path, {"INTERPRETER_WIN": "C:\\Users\\josé\\python.exe"}, "cp1252")
    assert data == b'"INTERPRETER_WIN","C:\\Users\\jos\xe9\\python.exe"\r\n'
    assert settings_file.parse_settings(data.decode("cp1252")) == {
        "INTERPRETER_WIN": "C:\\Users\\josé\\python.exe"
    }
    with pytest.raises(Exception, match=r"Excel's macros cannot read.*cp1252"):
        settings_text(path, {"INTERPRETER_WIN": "C:\\Users\\Дмитрий\\python.exe"}, "cp1252")
    with pytest.raises(Exception, match="quotes"):
        settings_text(path, {"PYTHONPATH": 'C:\\a"b'}, "cp1252")


def test_machine_install_on_windows(tmp_path: Path) -> None:
    xlam = build_addin(tmp_path / "build" / "ParentPortal.xlam")
    program_files = tmp_path / "Program Files"
    office = program_files / "Microsoft Office" / "root" / "Office16"
    office.mkdir(parents=True)
    (office / "EXCEL.EXE").write_bytes(b"")
    environ = {**windows(tmp_path), "ProgramFiles": str(program_files)}
    with pytest.raises(Exception, match="--database-url"):
        install_addin(xlam, platform="win32", home=tmp_path, environ=environ, scope="machine")
    message = install_addin(
        xlam,
        platform="win32",
        home=tmp_path,
        environ=environ,
        python="C:\\ParentPortal\\venv\\Scripts\\python.exe",
        scope="machine",
        database_url="postgresql://portal@db/district",
    )
    assert (office / "XLSTART" / "ParentPortal.xlam").read_bytes() == xlam.read_bytes()
    machine = tmp_path / "ProgramData" / "ParentPortal" / CONF
    assert settings_file.read_settings(machine, "cp1252") == {
        "INTERPRETER_WIN": "C:\\ParentPortal\\venv\\Scripts\\python.exe",
        "PYTHONPATH": str(PROJECT_ROOT),
        "UDF MODULES": "addin.excel.functions",
        "PORTAL_DATABASE_URL": "postgresql://portal@db/district",
    }
    assert str(machine) in message and "start Excel again" in message
    assert not (tmp_path / "josé").exists()  # nothing per user


def test_machine_install_for_a_district_server(tmp_path: Path) -> None:
    """A client computer's add-in names the district server and no database; Python reads it."""
    xlam = build_addin(tmp_path / "build" / "ParentPortal.xlam")
    office = tmp_path / "Program Files" / "Microsoft Office" / "root" / "Office16"
    office.mkdir(parents=True)
    (office / "EXCEL.EXE").write_bytes(b"")
    environ = {**windows(tmp_path), "ProgramFiles": str(tmp_path / "Program Files")}
    install = partial(
        install_addin, xlam, platform="win32", home=tmp_path, environ=environ, scope="machine"
    )
    with pytest.raises(Exception, match="must begin with https://"):
        install(server_url="http://portal.district.example.org")
    assert not (tmp_path / "ProgramData").exists()
    install(server_url="https://portal.district.example.org/", python="C:\\py\\python.exe")
    machine = tmp_path / "ProgramData" / "ParentPortal" / CONF
    settings = settings_file.read_settings(machine, "cp1252")
    assert settings["PORTAL_SERVER_URL"] == "https://portal.district.example.org"
    assert "PORTAL_DATABASE_URL" not in settings
    assert load_addin_settings(dict(environ), "win32", tmp_path) == {
        "PORTAL_SERVER_URL": "https://portal.district.example.org"
    }


def test_machine_install_without_rights_says_what_to_copy_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "Library" / "Application Support" / "Microsoft" / "Office365"
    folder = system / "User Content.localized" / "ParentPortal"
    monkeypatch.setattr(settings_file, "MAC_MACHINE_FOLDER", folder)
    monkeypatch.setattr(
        install, "MAC_MACHINE_STARTUP", folder.parent / "Startup.localized" / "Excel"
    )
    write_bytes = Path.write_bytes

    def no_rights(path: Path, data: bytes) -> int:  # what /Library is for a user, even for root
        if path.is_relative_to(system):
            raise PermissionError(13, "Permission denied", str(path))
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", no_rights)
    xlam = build_addin(tmp_path / "build" / "ParentPortal.xlam")
    message = install_addin(
        xlam,
        platform="darwin",
        home=tmp_path / "home",
        environ={},
        python="/opt/parentportal/bin/python",
        scope="machine",
        database_url="postgresql://portal@db/district",
    )
    assert f"copy {xlam.parent / CONF} to {folder / CONF} as an administrator" in message
    startup = folder.parent / "Startup.localized" / "Excel" / "ParentPortal.xlam"
    assert f"copy {xlam} to {startup} as an administrator" in message
    assert not any(path.is_file() for path in system.rglob("*"))
    staged = settings_file.read_settings(xlam.parent / CONF, "utf-8")
    assert staged["INTERPRETER_MAC"] == "/opt/parentportal/bin/python"
    assert "Each other user needs" in message
