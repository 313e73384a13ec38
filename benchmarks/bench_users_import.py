"""Users import at district scale, against a floor measured in the same run.

Each phase runs in a fresh child process, so its peak memory is its own:

- apply:     a N-row users workbook into an empty SQLite database, end to end (read, check,
             plan, write, record the batch, write the result workbook with its Import Log);
- reimport:  the same workbook again, unchanged (all rows skipped), end to end;
- floor:     python-calamine reading the same file + raw sqlite3 executemany of the same rows
             + XlsxWriter writing a log sheet of the same size.

    uv run python benchmarks/bench_users_import.py --rows 100000
"""

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook

HEADERS = [
    "LOGONID",
    "FIRST_NAME",
    "LAST_NAME",
    "USER_TYPE",
    "EMAIL",
    "STATUS",
    "PHONE",
    "LANGUAGE",
]


def make_workbook(path: Path, rows: int) -> None:
    with xlsxwriter.Workbook(path, {"constant_memory": True}) as workbook:
        sheet = workbook.add_worksheet("Users")
        sheet.write_row(0, 0, HEADERS)
        for n in range(rows):
            sheet.write_row(
                n + 1,
                0,
                [
                    f"parent.{n}@example.org",
                    f"First{n % 997}",
                    f"Last{n % 1009}",
                    "GUARDIAN",
                    f"home.{n}@example.net",
                    "ACTIVE",
                    f"555-{n % 900 + 100}-{n % 9000 + 1000}",
                    "English" if n % 10 else "Spanish",
                ],
            )


def phase_import(workbook: Path, database: Path, out: Path) -> None:
    from addin.actions import import_users_file
    from backend.db import open_database

    engine = open_database(str(database))
    report, _ = import_users_file(engine, workbook, apply=True, dest=out)
    print(json.dumps(report.counts), file=sys.stderr)


def phase_floor(workbook: Path, database: Path, out: Path) -> None:
    book = CalamineWorkbook.from_path(str(workbook))
    rows = book.get_sheet_by_name("Users").to_python()
    connection = sqlite3.connect(database)
    connection.execute(f"CREATE TABLE users ({', '.join(h + ' TEXT' for h in HEADERS)})")
    connection.executemany(f"INSERT INTO users VALUES ({', '.join('?' * len(HEADERS))})", rows[1:])
    connection.commit()
    connection.close()
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet = log.add_worksheet("Import Log")
        sheet.write_row(0, 0, ["Row", "LOGONID", "Action", "Changes", "Reason"])
        for n, row in enumerate(rows[1:], start=1):
            sheet.write_row(n, 0, [n + 1, row[0], "added", "", "New guardian account"])


PHASES = {"import": phase_import, "floor": phase_floor}


def run_phase(name: str, workbook: Path, database: Path, out: Path) -> tuple[float, float]:
    """Seconds and peak resident MB of one phase, in a child process of its own."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--phase", name, str(workbook), str(database), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    return seconds, float(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--phase", nargs=4, metavar=("NAME", "XLSX", "DB", "OUT"))
    args = parser.parse_args()
    if args.phase:
        name, *paths = args.phase
        PHASES[name](*map(Path, paths))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workbook = folder / "users.xlsx"
        make_workbook(workbook, args.rows)
        floor_s, floor_mb = run_phase("floor", workbook, folder / "floor.sqlite", folder / "f.xlsx")
        apply_s, apply_mb = run_phase(
            "import", workbook, folder / "portal.sqlite", folder / "apply.xlsx"
        )
        again_s, again_mb = run_phase(
            "import", workbook, folder / "portal.sqlite", folder / "again.xlsx"
        )
    print(f"users import, {args.rows} rows (each phase a fresh process, start-up included)")
    print(f"{'phase':<30}{'seconds':>9}{'x floor':>9}{'peak MB':>9}")
    print(f"{'floor (read+executemany+log)':<30}{floor_s:>9.2f}{1:>9.2f}{floor_mb:>9.0f}")
    print(
        f"{'apply into empty database':<30}{apply_s:>9.2f}{apply_s / floor_s:>9.2f}{apply_mb:>9.0f}"
    )
    print(f"{'re-import unchanged':<30}{again_s:>9.2f}{again_s / floor_s:>9.2f}{again_mb:>9.0f}")


if __name__ == "__main__":
    main()
