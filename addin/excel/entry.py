"""What the ribbon's buttons call, e.g.
``RunPython "import addin.excel.entry; addin.excel.entry.run('users.simulate')"``.

A user's mistake comes back as a message box in plain words, never as a Python traceback.
"""

from typing import Any

from sqlalchemy import Engine

from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.actions import dispatch
from addin.workbooks.interface import Workbook
from backend.database.engine import open_database
from backend.errors import PortalError
from backend.imports.contract import collector_paused


def engine() -> Engine:
    """One engine per Excel session: the database of PORTAL_DATABASE_URL or the default file."""
    return open_database(per_session=True)


def run_action(action: str, workbook: Workbook, db: Engine) -> Any:
    """Run a ribbon action on a workbook; report a user's mistake as a message."""
    try:
        with collector_paused():
            return dispatch(action, workbook, db)
    except PortalError as exc:
        workbook.notify(str(exc))
        return None


def run(action: str) -> None:
    """The entry point of every ribbon button, acting on the workbook that called it."""
    import xlwings as xw

    run_action(action, ExcelWorkbook(xw.Book.caller()), engine())
