"""Reading zero-padded IDs from a district-size sheet, against a floor measured in the same run.

- floor:   python-calamine reads the sheet into a grid (what every import does anyway);
- padded:  ``zero_padded_cells`` finds the padded ID cells of two columns.

Each is timed in a fresh process of its own (start-up excluded, best of ``--repeat``), so the
ratio says how much the padded-ID pass adds to reading the sheet, whatever the machine's load.

    uv run python benchmarks/bench_padded_ids.py --rows 100000
"""

import argparse
import datetime
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter

SHEET = "Users"
COLUMNS = [0, 4]


def make_workbook(path: Path, rows: int) -> None:
    with xlsxwriter.Workbook(path, {"constant_memory": True}) as workbook:
        padded = workbook.add_format({"num_format": "000000"})
        dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
        sheet = workbook.add_worksheet(SHEET)
        sheet.write_row(0, 0, ["ID", "Name", "Born", "Grade", "Guardian ID"])
        born = datetime.datetime(2012, 1, 1)
        for row in range(1, rows + 1):
            sheet.write_number(row, 0, row, padded)
            sheet.write_string(row, 1, f"Student {row}")
            sheet.write_datetime(row, 2, born, dates)
            sheet.write_number(row, 3, row % 12)
            sheet.write_number(row, 4, 900_000 + row, padded)


def phase_floor(path: Path) -> None:
    from python_calamine import CalamineWorkbook

    book = CalamineWorkbook.from_path(str(path))
    book.get_sheet_by_name(SHEET).to_python(skip_empty_area=False)
    book.close()


def phase_padded(path: Path) -> None:
    from addin.files.padded_ids import zero_padded_cells

    zero_padded_cells(path, SHEET, COLUMNS)


PHASES = {"floor": phase_floor, "padded": phase_padded}


def child(name: str, path: Path, repeat: int) -> None:
    """In the child: import first, then print the best time of ``repeat`` runs."""
    phase = PHASES[name]
    phase(path)  # warm: imports and the file in the page cache
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        phase(path)
        best = min(best, time.perf_counter() - started)
    print(best)


def run(name: str, path: Path, repeat: int) -> float:
    done = subprocess.run(
        [sys.executable, __file__, "--phase", name, str(path), str(repeat)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"phase {name} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        child(sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ids.xlsx"
        make_workbook(path, args.rows)
        floor_s = run("floor", path, args.repeat)
        padded_s = run("padded", path, args.repeat)
    print(f"Padded IDs, {args.rows} rows (best of {args.repeat}, start-up excluded)")
    print(f"{'phase':<34}{'seconds':>9}{'x floor':>9}")
    print(f"{'floor (calamine reads the sheet)':<34}{floor_s:>9.3f}{1:>9.2f}")
    print(f"{'zero_padded_cells, 2 columns':<34}{padded_s:>9.3f}{padded_s / floor_s:>9.2f}")


if __name__ == "__main__":
    main()
