"""``portal outbox worker``: send the outbox's mail until stopped; several may run on PostgreSQL.

A worker is ``send_pending``'s sender kept running: the same claim, hand-off and settlement
(``outbox._SendRun``), asked for the next due message again and again, and a pause of the poll
interval when none is due. Every wait is taken in short steps, so a stop (SIGTERM, Ctrl+C) is
heard within a fraction of a second; the message being handed to the server then is finished
and its outcome recorded before the worker returns.

What goes away comes back by itself: a lost database or a mail server that cannot be used is
told once, then tried again after growing pauses (up to a minute), messages left queued. An
outcome the server gave but the database could not record is tried again until it is recorded
(when stopping, for ``STOP_GRACE_S`` at most: the message then stays ``sending``, for ``portal
outbox release``).
"""

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from backend.errors import PortalError
from backend.mail.outbox import SendReport, Told, _SendRun, mailer_for
from backend.settings import Settings, get_settings

STEP_S = 0.2  # the longest a stop waits to be heard
MAX_WAIT_S = 60.0  # the longest pause between two tries of a server that is away
STOP_GRACE_S = 30.0  # how long a stopping worker keeps trying to record an outcome
DATABASE_TROUBLE = (DBAPIError, PortalError)  # the connection was lost, or a lock wait ran out


def run_worker(
    engine: Engine,
    *,
    poll_s: float,
    stop: threading.Event,
    told: Told,
    said: Callable[[str], None],
    settings: Settings | None = None,
) -> SendReport:
    """Send due messages until ``stop`` is set; return the tally. ``told`` hears of each
    message, ``said`` of a server that went away or came back."""
    settings = settings or get_settings()
    mailer = mailer_for(settings)  # bad settings stop the worker before it starts
    waits = _Waits(stop, said)
    run = _SendRun(
        engine,
        settings,
        mailer,
        None,
        waits.nap,
        stopping=stop.is_set,
        settle=waits.until_recorded,
        told=told,
    )
    try:
        while not stop.is_set():
            _one_round(run, waits, poll_s)
    finally:
        run.mailer.drop(polite=True)
    return run.report


def _one_round(run: _SendRun, waits: "_Waits", poll_s: float) -> None:
    """Send the next due message, or wait: the poll interval, or longer while a server is away."""
    try:
        went = run.send_next(run.clock())
    except DATABASE_TROUBLE as exc:  # nothing was claimed: the transaction was rolled back
        waits.away("database", f"The database could not be used: {_first_line(exc)}.", 1.0)
        return
    waits.back("database", "The database answers again; sending goes on.")
    if went == "none":
        run.mailer.drop(polite=True)  # idle: hang up, and look again with a read only
        waits.nap(poll_s)
    elif went == "stop" and run.report.error:
        waits.away("mail", run.report.error, poll_s)
        run.report.error = None
    elif went == "more":
        waits.back("mail", "The mail server answers again; sending goes on.")


def _first_line(exc: Exception) -> str:
    """The cause in one line: the driver's message, without SQLAlchemy's SQL and links."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return (lines[0] if lines else type(cause).__name__)[:300]


class _Waits:
    """Pauses a stop cuts short, and the growing pauses while a server is away."""

    def __init__(self, stop: threading.Event, said: Callable[[str], None]) -> None:
        self.stop = stop
        self.said = said
        self.pauses: dict[str, float] = {}  # what is away, and the next pause before a try

    def nap(self, seconds: float) -> None:
        """Sleep ``seconds`` in short steps, returning at once when a stop is asked."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and (left := deadline - time.monotonic()) > 0:
            self.stop.wait(min(left, STEP_S))

    def away(self, what: str, line: str, first_pause: float) -> None:
        """Say once that ``what`` is away, then pause before the next try: longer each time."""
        if what not in self.pauses:
            self.said(f"{line} Trying again, every minute at most.")
        pause = self.pauses.get(what, first_pause)
        self.pauses[what] = min(max(pause, 0.1) * 2, MAX_WAIT_S)
        self.nap(pause)

    def back(self, what: str, line: str) -> None:
        if self.pauses.pop(what, None) is not None:
            self.said(line)

    def until_recorded(self, record: Callable[[], None]) -> None:
        """Record an outcome, trying again while the database is away: the server's answer must
        not be lost. Stopping, give up after ``STOP_GRACE_S``; the message stays 'sending'."""
        give_up_at: float | None = None
        while True:
            try:
                record()
            except DATABASE_TROUBLE as exc:
                if self.stop.is_set():
                    give_up_at = give_up_at or time.monotonic() + STOP_GRACE_S
                    if time.monotonic() > give_up_at:
                        self.said(
                            "A message's outcome could not be recorded before stopping: it "
                            "stays 'sending' (see `portal outbox release`)."
                        )
                        return
                self.away("database", f"The database could not be used: {_first_line(exc)}.", 1.0)
                if self.stop.is_set():
                    time.sleep(STEP_S * 5)
                continue
            self.back("database", "The database answers again; sending goes on.")
            return
