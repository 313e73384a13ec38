"""What the ribbon's buttons call, e.g.
``RunPython "import addin.excel.entry; addin.excel.entry.run('users.simulate')"``.

Staff never see a Python traceback: a mistake in their workbook comes back as a message box in
plain words; anything else (a database that cannot be reached, an error inside Excel) as a
message box saying what to do, with the details written to a log file IT can collect.

While a button runs, Excel's status bar shows its progress (a few updates a second at most,
however many rows), and screen updating and automatic calculation are off; all three are put
back however the run ends.
"""

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from addin.excel.settings_file import load_addin_settings
from addin.excel.workbook import ExcelWorkbook
from addin.remote import Remote, from_settings
from addin.workbooks.actions import dispatch, new_from_template
from addin.workbooks.interface import Workbook
from backend.database.engine import open_database
from backend.errors import PortalError
from backend.imports.contract import Progress, collector_paused
from backend.settings import get_settings

LOG_FILE_NAME = "excel-errors.log"
SELF_TEST_ACTION = "self-test"
"""The ribbon's Self-Test button: not a workbook action, so ``dispatch`` does not know it."""
NEW_TEMPLATE = "template.new"
PROGRESS_INTERVAL_S = 0.3
"""Least time between two status bar updates: each is a call into Excel."""


def engine() -> Engine:
    """One engine per Excel session: the database of PORTAL_DATABASE_URL or the default file."""
    load_addin_settings()  # Excel's Python has Excel's environment: the add-in's settings files
    return open_database(per_session=True)


def backend() -> Engine | Remote:
    """Where the buttons' actions run: the district server when PORTAL_SERVER_URL names one
    (in the add-in's settings files or the environment), else the database of ``engine``."""
    load_addin_settings()
    remote = from_settings()  # no token: one line on how to sign in, and nothing written
    return engine() if remote is None else remote


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


def run_action(
    action: str, workbook: Workbook, db: Engine | Remote, progress: Progress | None = None
) -> Any:
    """Run a ribbon action on a workbook; every error becomes a message (None is returned)."""
    with told(workbook, action), collector_paused():
        if progress is None:
            return dispatch(action, workbook, db)
        return dispatch(action, workbook, db, progress=progress)
    return None


class StatusBar:
    """A progress callback showing ``stage: done of total`` in Excel's status bar, throttled:
    at most one update per ``interval`` seconds, plus each stage's first and last."""

    def __init__(
        self,
        app: Any,
        *,
        interval: float = PROGRESS_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.interval = interval
        self.clock = clock
        self._stage: str | None = None
        self._shown_at = float("-inf")

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = self.clock()
        boundary = stage != self._stage or done >= total
        if not boundary and now - self._shown_at < self.interval:
            return
        self._stage, self._shown_at = stage, now
        share = f" ({100 * done // total}%)" if total else ""
        self.app.status_bar = f"Parent Portal: {stage}: {done:,} of {total:,}{share}"


@contextmanager
def excel_busy(app: Any, clock: Callable[[], float] = time.monotonic) -> Iterator[StatusBar]:
    """Screen updating and automatic calculation off for the run, then put back as they were,
    and the status bar handed back to Excel, whether the run ends well or not."""
    screen_updating, calculation = app.screen_updating, app.calculation
    try:
        app.screen_updating = False
        app.calculation = "manual"
        yield StatusBar(app, clock=clock)
    finally:
        for name, value in (("calculation", calculation), ("screen_updating", screen_updating)):
            with suppress(Exception):  # restore the other even if Excel refuses this one
                setattr(app, name, value)
        reset_status_bar(app)


def reset_status_bar(app: Any) -> None:
    with suppress(Exception):
        app.status_bar = False  # Excel's own status bar again


def run_on_book(
    action: str,
    book: Any,
    open_engine: Callable[[], Engine | Remote] = backend,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> Any:
    """Run a button's action on an xlwings book with feedback in Excel; None after an error."""
    workbook = ExcelWorkbook(book)
    try:
        with told(workbook, action), excel_busy(book.app, clock) as progress:
            if action == SELF_TEST_ACTION:
                from addin.excel.self_test import run_self_test

                return run_self_test(workbook, progress=progress)
            if action == NEW_TEMPLATE:  # needs neither the database nor the server's token
                return new_from_template(workbook)
            return run_action(action, workbook, open_engine(), progress)
    finally:
        reset_status_bar(book.app)  # also after a message that told of an error
    return None


def run(action: str) -> None:
    """The entry point of every ribbon button, acting on the workbook that called it."""
    import xlwings as xw

    load_addin_settings()  # before anything reads the settings, the log folder included
    run_on_book(action, xw.Book.caller())
