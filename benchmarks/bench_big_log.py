"""Writing a state-size Import Log, against a floor measured in the same run.

- floor: XlsxWriter in constant-memory mode writes the same cells (values and fills), run order,
  going on to a new sheet at Excel's row limit;
- log:   ``log_from_report`` and ``write_log_workbook`` write the portal's log: the rows that
  need attention first, the summary, the columns sized, over as many sheets as it needs.

Both read their rows from a re-iterable generator of ``RowResult``s standing in for a report
whose rows are spooled to disk: each pass makes them afresh, so neither can hold them all.
Each phase runs in a fresh process of its own (start-up included); peak MB is its peak resident
memory, which stays flat however many rows are written.

    uv run python benchmarks/bench_big_log.py --rows 3000000
"""

import argparse
import os
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness import child_main, run_phase

if TYPE_CHECKING:
    from backend.imports.contract import RowResult

EXCEL_ROWS = 1_048_576
COLUMNS = ["Row", "LOGONID", "Action", "Changes (old -> new)", "Reason", "Warning"]


class Spooled:
    """Rows made afresh on each pass, as a report spooled to disk reads them back."""

    def __init__(self, count: int) -> None:
        self.count = count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator["RowResult"]:
        from backend.imports.contract import RowResult

        for n in range(self.count):
            if n % 1000 == 999:
                yield RowResult(n + 2, f"bad{n}@@example.org", "error", "EMAIL: not valid")
            elif n % 10 == 9:
                yield RowResult(
                    n + 2, f"user{n}@example.org", "updated", "Changed", {"FIRST": ("Al", "Ali")}
                )
            else:
                warning = "Student 004 is INACTIVE" if n % 500 == 1 else None
                yield RowResult(n + 2, f"user{n}@example.org", "added", "New", None, None, warning)


def phase_floor(out: str, count: str) -> None:
    """XlsxWriter writing the same cells, coloured by action, one sheet after another."""
    import xlsxwriter

    from addin.workbooks.result_sheet import ACTION_COLOURS

    with xlsxwriter.Workbook(out, {"constant_memory": True}) as book:
        fills = {a: book.add_format({"bg_color": f"#{rgb}"}) for a, rgb in ACTION_COLOURS.items()}
        sheet, n, pages = None, EXCEL_ROWS, 0
        for r in Spooled(int(count)):
            if n == EXCEL_ROWS:
                pages += 1
                sheet = book.add_worksheet("Import Log" + (f" ({pages})" if pages > 1 else ""))
                sheet.write_row(0, 0, COLUMNS)
                n = 1
            assert sheet is not None
            changes = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in (r.changes or {}).items())
            look = fills["warning" if r.warning else r.action]
            sheet.write_row(n, 0, [r.row, r.key, r.action, changes, r.reason, r.warning], look)
            n += 1


def phase_log(out: str, count: str) -> None:
    from addin.workbooks.file import write_log_workbook
    from addin.workbooks.result_sheet import log_from_report
    from backend.imports.contract import Report

    now = datetime.now()
    report = Report("users", "apply", 1, now, now, "state.xlsx", results=Spooled(int(count)))
    write_log_workbook(Path(out), log_from_report(report, "LOGONID"))


PHASES = {"floor": phase_floor, "log": phase_log}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=3_000_000)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        runs = {
            name: run_phase(__file__, name, Path(folder) / f"{name}.xlsx", str(args.rows))
            for name in PHASES
        }
        sizes = {name: (Path(folder) / f"{name}.xlsx").stat().st_size / 1e6 for name in PHASES}
    floor_s = runs["floor"][0]
    print(f"Import Log of {args.rows} rows (each phase a fresh process, start-up included)")
    print(f"{'phase':<34}{'seconds':>9}{'x floor':>9}{'rows/s':>10}{'peak MB':>9}{'file MB':>9}")
    labels = {"floor": "floor (XlsxWriter constant_memory)", "log": "log_from_report + write"}
    for name, (seconds, mb) in runs.items():
        print(
            f"{labels[name]:<34}{seconds:>9.2f}{seconds / floor_s:>9.2f}"
            f"{args.rows / seconds:>10.0f}{mb:>9.0f}{sizes[name]:>9.1f}"
        )
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    if not child_main(PHASES):
        main()
