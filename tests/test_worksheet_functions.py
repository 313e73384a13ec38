"""The worksheet functions: their VBA wrappers in the built add-in (xlwings' own generator, read
back with our reader and olevba), a column answered with one query, bad input in words."""

import inspect
import re
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import xlwings
from sqlalchemy import Engine, event, insert, select
from xlwings.conversion import accessors

from addin.excel import functions
from addin.excel.functions import (
    NO_ACCOUNT,
    NO_LOGON,
    NO_LOGONS,
    NO_STUDENT,
    NO_STUDENT_ID,
    PORTAL_ACCOUNT_STATUS,
    PORTAL_STUDENT_LOGONS,
    ZEROS_HINT,
    account_status,
    student_logons,
)
from addin.excel.udf_wrappers import decorated
from addin.xlam import build_addin, install_addin, read_vba_project
from addin.xlam.package import VBA_PROJECT_PART, read_part
from addin.xlam.udfs import UDF_MODULE, UDF_VBA_MODULE, udf_vba
from backend.database.engine import write_transaction
from backend.database.models import PortalUser, Student, StudentLink
from backend.settings import get_settings

with warnings.catch_warnings():  # oletools uses pyparsing names pyparsing now deprecates
    warnings.simplefilter("ignore", DeprecationWarning)
    from oletools.olevba import VBA_Parser

WORKSHEET_FUNCTIONS = {
    "PORTAL_ACCOUNT_STATUS": ["logon_id"],
    "PORTAL_STUDENT_LOGONS": ["student_id"],
}
WRAPPER = re.compile(r"^Function (\w+)\(([^)]*)\)\r\n(.*?)^End Function\r\n", re.M | re.S)


@pytest.fixture(scope="module")
def xlam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_addin(tmp_path_factory.mktemp("addin") / "ParentPortal.xlam")


@pytest.fixture(scope="module")
def udf_code(xlam: Path) -> str:
    modules, _ = read_vba_project(read_part(xlam, VBA_PROJECT_PART))
    (module,) = [m for m in modules if m.name == UDF_VBA_MODULE]
    assert module.kind == "standard"
    return module.code


# --- the wrappers in the add-in ---------------------------------------------------------------


def test_the_addin_declares_each_function_with_its_arguments(udf_code: str) -> None:
    declared = {m[1]: [a.strip() for a in m[2].split(",")] for m in WRAPPER.finditer(udf_code)}
    assert declared == WORKSHEET_FUNCTIONS
    python = {
        name: list(inspect.signature(getattr(functions, name)).parameters)
        for name in dir(functions)
        if name.startswith("PORTAL_")
    }
    assert declared == python
    for match in WRAPPER.finditer(udf_code):
        name, args = match[1], match[2]
        call = f'XLPy.CallUDF("{UDF_MODULE}", "{name}", Array({args}), ActiveWorkbook, '
        assert f"{name} = {call}Application.Caller)" in match[3]


def test_the_module_is_the_one_xlwings_import_functions_writes(udf_code: str) -> None:
    udfs, _ = decorated(UDF_MODULE)
    source = inspect.getsource(udfs.import_udfs)
    lines = udf_code.split("\r\n")
    assert lines[0] == f'Attribute VB_Name = "{UDF_VBA_MODULE}"'
    assert f'VBComponents("{UDF_VBA_MODULE}")' in source  # the module Import Functions replaces
    for line in lines[:3]:
        assert line in source
    assert "\n" not in udf_code.replace("\r\n", "")


def test_olevba_reads_the_wrappers(xlam: Path, udf_code: str) -> None:
    parser = VBA_Parser(str(xlam))
    try:
        found = {name: code for _, _, name, code in parser.extract_macros()}
    finally:
        parser.close()
    assert found[f"{UDF_VBA_MODULE}.bas"] == udf_code


def test_generating_is_deterministic_and_leaves_xlwings_as_it_was() -> None:
    before = (xlwings.func, xlwings.arg, xlwings.ret)
    assert udf_vba() == udf_vba()
    assert (xlwings.func, xlwings.arg, xlwings.ret) == before
    assert "xlwings.udfs" not in sys.modules or sys.platform == "win32"
    assert "pythoncom" not in sys.modules or sys.platform == "win32"


def test_xlwings_can_convert_every_argument_and_answer() -> None:
    """call_udf looks each type hint up in xlwings' converters: an unknown one (a union) fails
    in Excel only, so it is caught here."""
    _, module = decorated(UDF_MODULE)
    for name, arguments in WORKSHEET_FUNCTIONS.items():
        info = getattr(module, name).__xlfunc__
        assert [a["name"] for a in info["args"]] == arguments
        for options in [a["options"] for a in info["args"]] + [info["ret"]["options"]]:
            assert options.get("convert") in accessors
        assert all(a["options"]["ndim"] == 2 for a in info["args"])


def test_install_names_the_module_the_wrappers_call(xlam: Path, tmp_path: Path) -> None:
    install_addin(xlam, platform="win32", home=tmp_path, environ={}, python="python.exe")
    config = (tmp_path / ".parentportal" / "parentportal.conf").read_text(encoding="utf-8")
    assert f'"UDF MODULES","{UDF_MODULE}"' in config


# --- answers ----------------------------------------------------------------------------------

STUDENTS = 600
ACCOUNTS = 500


@pytest.fixture
def school(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """Accounts g0..g499@Example.org (every 7th inactive); students S0..S599, student i linked
    to accounts i % 500 and, for even i, (i + 1) % 500: g2 has 2 students, g1 has 5 (student 77
    among them); student 00123, with leading zeros, has no logons."""
    users = [
        {
            "logon_id": f"g{i}@Example.org",
            "logon_key": f"g{i}@example.org",
            "user_type": "GUARDIAN",
            "first_name": "G",
            "last_name": str(i),
            "status": "ACTIVE" if i % 7 else "INACTIVE",
        }
        for i in range(ACCOUNTS)
    ]
    students = [
        {"student_id": f"S{i}", "first_name": "S", "last_name": str(i)} for i in range(STUDENTS)
    ]
    students += [{"student_id": "00123", "first_name": "Z", "last_name": "Zero"}]
    students += [{"student_id": "77", "first_name": "N", "last_name": "Number"}]
    with write_transaction(engine) as connection:
        connection.execute(insert(PortalUser), users)
        connection.execute(insert(Student), students)
        keys = connection.execute(select(PortalUser.logon_key, PortalUser.id))
        user_ids: dict[str, int] = {key: pk for key, pk in keys}
        numbers = connection.execute(select(Student.student_id, Student.id))
        student_ids: dict[str, int] = {number: pk for number, pk in numbers}
        links: list[dict[str, Any]] = []
        for i in range(STUDENTS):
            for account in {i % ACCOUNTS, (i + 1) % ACCOUNTS} if i % 2 == 0 else {i % ACCOUNTS}:
                links.append(
                    {
                        "user_id": user_ids[f"g{account}@example.org"],
                        "student_id": student_ids[f"S{i}"],
                        "relationship": "Mother" if account % 2 else None,
                    }
                )
        links.append(
            {
                "user_id": user_ids["g1@example.org"],
                "student_id": student_ids["77"],
                "relationship": None,
            }
        )
        connection.execute(insert(StudentLink), links)
    monkeypatch.setattr(functions, "backend", lambda: engine)
    return engine


@pytest.fixture
def selects(school: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(school, "before_cursor_execute", count)
    yield statements
    event.remove(school, "before_cursor_execute", count)


def test_a_column_of_logons_costs_one_query(selects: list[str]) -> None:
    column: list[Any] = [f"G{i}@example.ORG " for i in range(900)]  # 400 have no account
    column += [None, "", "  ", 12.0, "nobody@example.org"] * 20
    assert len(column) == 1000
    answers = account_status(column)
    assert len(selects) == 1
    one_by_one = [account_status(cell) for cell in column]
    assert len(selects) == 1 + len(column) - column.count(None) - column.count("") - 20
    assert answers == [[answer] for answer in one_by_one]
    assert answers[1] == ["ACTIVE GUARDIAN account, 5 students"]
    assert answers[2] == ["ACTIVE GUARDIAN account, 2 students"]
    assert answers[0] == ["INACTIVE GUARDIAN account, 2 students"]
    assert answers[600] == [NO_ACCOUNT]
    assert answers[900:905] == [[NO_LOGON]] * 3 + [[NO_ACCOUNT]] * 2


def test_a_column_of_student_ids_costs_one_query(selects: list[str]) -> None:
    column: list[Any] = [f"S{i}" for i in range(STUDENTS)] + ["S9999"] * 100
    column += [None, " ", 77.0, 123.0, "00123", 12.5, True, " S5 "] * 37 + ["S1", "S2", "S3", "S4"]
    assert len(column) == 1000
    answers = student_logons(column)
    assert len(selects) == 1
    assert len(answers) == 1000 and all(len(row) == 1 for row in answers)
    for cell, (answer,) in zip(column, answers, strict=True):
        single = student_logons(cell)
        if len(single[0]) == 1:
            assert answer == single[0][0]
        else:
            assert answer == "; ".join(
                f"{logon} ({kind}{', ' + relation if relation else ''})"
                for logon, kind, relation in single
            )
    assert answers[2] == ["g2@Example.org (GUARDIAN); g3@Example.org (GUARDIAN, Mother)"]
    assert answers[700:708] == [
        [NO_STUDENT_ID],
        [NO_STUDENT_ID],
        ["g1@Example.org (GUARDIAN)"],
        [NO_STUDENT + ZEROS_HINT],
        [NO_LOGONS],
        ["12.5 is not a student ID: IDs are whole numbers or text"],
        ["True is not a student ID"],
        ["g5@Example.org (GUARDIAN, Mother)"],
    ]


def test_a_block_keeps_its_shape(school: Engine) -> None:
    block = [["g2@example.org", None], ["nobody", "g4@example.org"]]
    assert account_status(block) == [
        ["ACTIVE GUARDIAN account, 2 students", NO_LOGON],
        [NO_ACCOUNT, "ACTIVE GUARDIAN account, 2 students"],
    ]


def test_a_single_cell_still_spills_its_logons(school: Engine) -> None:
    assert student_logons("S2") == [
        ["g2@Example.org", "GUARDIAN", ""],
        ["g3@Example.org", "GUARDIAN", "Mother"],
    ]
    assert student_logons(77.0) == [["g1@Example.org", "GUARDIAN", ""]]
    assert student_logons("404") == [[NO_STUDENT]]
    assert student_logons(None) == [[NO_STUDENT_ID]]
    assert account_status(" G2@EXAMPLE.org ") == "ACTIVE GUARDIAN account, 2 students"
    assert account_status(None) == NO_LOGON


def test_excel_passes_rows_of_cells(school: Engine) -> None:
    """With ``ndim=2`` xlwings hands every argument over as rows, a single cell too."""
    assert PORTAL_ACCOUNT_STATUS([["g2@example.org"]]) == "ACTIVE GUARDIAN account, 2 students"
    assert PORTAL_ACCOUNT_STATUS([["g2@example.org"], [None]]) == [
        ["ACTIVE GUARDIAN account, 2 students"],
        [NO_LOGON],
    ]
    assert PORTAL_STUDENT_LOGONS([[77.0]]) == [["g1@Example.org", "GUARDIAN", ""]]
    assert PORTAL_STUDENT_LOGONS([[77.0], ["404"]]) == [["g1@Example.org (GUARDIAN)"], [NO_STUDENT]]


def test_an_error_is_a_sentence_in_the_cell_and_a_log_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_LOG_FOLDER", str(tmp_path / "logs"))
    get_settings.cache_clear()

    def unreachable() -> Engine:
        raise ConnectionRefusedError("the database server does not answer")

    monkeypatch.setattr(functions, "backend", unreachable)
    answer = PORTAL_ACCOUNT_STATUS([["g1@example.org"]])
    log = tmp_path / "logs" / "excel-errors.log"
    assert answer == f"Parent Portal could not answer: the details are in {log} for your IT team"
    assert "ConnectionRefusedError" in log.read_text(encoding="utf-8")
