"""What the ribbon's buttons call, e.g.
``RunPython "import addin.excel.entry; addin.excel.entry.run('users.simulate')"``.

Staff never see a Python traceback: a mistake in their workbook comes back as a message box in
plain words; anything else (a database that cannot be reached, an error inside Excel) as a
message box saying what to do, with the details written to a log file IT can collect.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from addin.excel.settings_file import load_addin_settings
from addin.excel.workbook import ExcelWorkbook
from addin.workbooks.actions import dispatch
from addin.workbooks.interface import Workbook
from backend.database.engine import open_database
from backend.errors import PortalError
from backend.imports.contract import collector_paused
from backend.settings import get_settings

LOG_FILE_NAME = "excel-errors.log"


def engine() -> Engine:
    """One engine per Excel session: the database of PORTAL_DATABASE_URL or the default file."""
    load_addin_settings()  # Excel's Python has Excel's environment: the add-in's settings files
    return open_database(per_session=True)


def error_log() -> Path:
    return Path(get_settings().log_folder) / LOG_FILE_NAME


def log_error(action: str, workbook_name: str) -> Path:
    """Append the error being handled, with its traceback, to the log file; return the file."""
    path = error_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("parent_portal.excel")
    handler = RotatingFileHandler(path, maxBytes=1 << 20, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger.addHandler(handler)
    try:
        logger.error("%s on %s failed", action, workbook_name, exc_info=True)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return path


@contextmanager
def told(workbook: Workbook, action: str) -> Iterator[None]:
    """Turn any error of an action into a message box; log the ones that are no user mistake."""
    try:
        yield
    except PortalError as exc:
        workbook.notify(str(exc))
    except Exception as exc:
        where = log_error(action, workbook.name)
        workbook.notify(
            f"Parent Portal could not finish this step ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else 'no details'}). "
            "Nothing in your workbook is lost. Run Simulate again before you import: its log "
            f"shows what is already saved. The details are in {where}: send that file to your "
            "IT team."
        )


def run_action(action: str, workbook: Workbook, db: Engine) -> Any:
    """Run a ribbon action on a workbook; every error becomes a message (None is returned)."""
    with told(workbook, action), collector_paused():
        return dispatch(action, workbook, db)
    return None


def run(action: str) -> None:
    """The entry point of every ribbon button, acting on the workbook that called it."""
    import xlwings as xw

    load_addin_settings()
    workbook = ExcelWorkbook(xw.Book.caller())
    with told(workbook, action):
        run_action(action, workbook, engine())
