"""What every benchmark here shares: phases in fresh child processes, a floor, a table of ratios.

A benchmark script defines its phases as functions of paths and hands them to ``child_main``;
the parent times each with ``run_phase`` and prints ``print_table``. The floor is the same work
done with the fastest raw tools: python-calamine reads the sheet, raw ``sqlite3`` ``executemany``
writes its rows, XlsxWriter writes a log of the same size.
"""

import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import xlsxwriter
from python_calamine import CalamineWorkbook

Phase = Callable[..., None]


def floor(workbook: Path, sheet: str, database: Path, out: Path) -> None:
    """Read the sheet, insert every row raw, write a log sheet of one row per input row."""
    book = CalamineWorkbook.from_path(str(workbook))
    rows = book.get_sheet_by_name(sheet).to_python()
    headers = [str(h) for h in rows[0]]
    connection = sqlite3.connect(database)
    columns = ", ".join(f'"c{i}" TEXT' for i in range(len(headers)))
    connection.execute(f"CREATE TABLE floor ({columns})")
    marks = ", ".join("?" * len(headers))
    connection.executemany(f"INSERT INTO floor VALUES ({marks})", rows[1:])
    connection.commit()
    connection.close()
    with xlsxwriter.Workbook(out, {"constant_memory": True}) as log:
        sheet_out = log.add_worksheet("Import Log")
        sheet_out.write_row(0, 0, ["Row", "Key", "Action", "Changes", "Reason"])
        for n, row in enumerate(rows[1:], start=1):
            sheet_out.write_row(n, 0, [n + 1, str(row[0]), "added", "", "New record"])


def child_main(phases: dict[str, Phase]) -> bool:
    """In a child (``--phase NAME ARGS...``): run the phase, print peak MB. False in the parent."""
    if len(sys.argv) > 2 and sys.argv[1] == "--phase":
        phases[sys.argv[2]](*map(Path, sys.argv[3:]))
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return True
    return False


def run_phase(script: str, name: str, *paths: Path) -> tuple[float, float]:
    """Seconds and peak resident MB of one phase, in a child process of its own."""
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, script, "--phase", name, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode:
        raise SystemExit(f"phase {name} failed:\n{child.stderr}")
    return time.perf_counter() - started, float(child.stdout.strip().splitlines()[-1])


def print_table(
    title: str, floor_run: tuple[float, float], runs: list[tuple[str, tuple[float, float]]]
) -> None:
    print(title + " (each phase a fresh process, start-up included)")
    print(f"{'phase':<34}{'seconds':>9}{'x floor':>9}{'peak MB':>9}")
    floor_s, floor_mb = floor_run
    print(f"{'floor (read+executemany+log)':<34}{floor_s:>9.2f}{1:>9.2f}{floor_mb:>9.0f}")
    for label, (seconds, mb) in runs:
        print(f"{label:<34}{seconds:>9.2f}{seconds / floor_s:>9.2f}{mb:>9.0f}")
