"""A fork server for the kill tests: each run is a forked process of its own, which the test kills.

Loading the import code takes longer than an import of thousands of rows, so the server loads it
once and forks a fresh child for every run. The child runs one users-import apply on a SQLite
file, opening its own connection, and prints each progress step; each step pauses a little, so a
kill that follows a printed step lands inside the transaction, not after it.

One line each way (stdin, stdout):
    server            READY
    test              <url> <rows> <suffix>
    child             PID|<pid>, then <stage>|<done>|<total> for each step, then DONE
    server            ENDED, once the child has ended, killed or not
    test              REAP
    server            EXIT|<exit code, or minus the signal that ended the child>

The server reaps a child only when told to, so its process ID cannot be reused while the test
may still send it a signal.
"""

import os
import sys
import time
import traceback

from factories import guardians_table

from backend.database.engine import make_engine
from backend.imports.users import import_users


def run(url: str, rows: int, suffix: str) -> None:
    table = guardians_table(rows, f"First{suffix}", source_name="kill.xlsx")

    def progress(stage: str, done: int, total: int) -> None:
        print(f"{stage}|{done}|{total}", flush=True)
        time.sleep(0.02)

    import_users(make_engine(url), table, apply=True, progress=progress)
    print("DONE", flush=True)


def child(url: str, rows: int, suffix: str) -> None:
    """The forked run; it never returns to the server's loop."""
    code = 0
    try:
        print(f"PID|{os.getpid()}", flush=True)
        run(url, rows, suffix)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        os._exit(code)


def serve() -> None:
    print("READY", flush=True)
    for request in sys.stdin:
        url, rows, suffix = request.split()
        pid = os.fork()
        if pid == 0:
            child(url, int(rows), suffix)
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # ended, but its ID is kept
        print("ENDED", flush=True)
        sys.stdin.readline()  # REAP
        _, status = os.waitpid(pid, 0)
        print(f"EXIT|{os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve()
