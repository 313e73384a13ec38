"""Run one users-import apply on a SQLite file, printing each progress step; the test kills it.

Each progress step pauses a little, so a kill that follows a printed step lands inside the
transaction, not after it.
"""

import sys
import time

from backend.database.engine import make_engine
from backend.imports.contract import InputTable
from backend.imports.users import import_users


def main(url: str, rows: int, suffix: str) -> None:
    table = InputTable(
        headers=["LOGONID", "FIRST_NAME", "LAST_NAME", "USER_TYPE"],
        rows=[
            (n + 2, [f"user{n}@example.org", f"First{suffix}", "Last", "GUARDIAN"])
            for n in range(rows)
        ],
        source_name="kill.xlsx",
    )

    def progress(stage: str, done: int, total: int) -> None:
        print(f"{stage}|{done}|{total}", flush=True)
        time.sleep(0.02)

    import_users(make_engine(url), table, apply=True, progress=progress)
    print("DONE", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
