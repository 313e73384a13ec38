"""Values, tables and reports as JSON, and back, without losing a type.

A cell the server is sent must import exactly as the same cell read locally, and a report sent
back must give the same Import Log: so dates and times travel tagged (``{"type": "date",
"value": "2026-09-01"}``), and everything else is JSON's own text, whole number, other number,
true/false or null. The client and the server use these same functions.
"""

from collections.abc import Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from backend.errors import InputError
from backend.imports.contract import InputTable, Report, RowResult

TAGGED: dict[str, Any] = {"datetime": datetime, "date": date, "time": time}
PLAIN_TYPES = frozenset({str, bool, int, float, type(None)})
"""The types JSON holds as they are: most rows hold nothing else, and travel as they are."""


def is_plain(cells: Sequence[Any]) -> bool:
    """Whether every cell is text, a number, true/false or null (checked in C, not cell by cell
    in Python: a 100,000-row import has 800,000 cells)."""
    return all(map(PLAIN_TYPES.__contains__, map(type, cells)))


def encode_cells(cells: Sequence[Any]) -> list[Any]:
    """A row's cells as ``encode_value`` makes each one."""
    return list(cells) if is_plain(cells) else [encode_value(c) for c in cells]


def decode_cells(cells: list[Any]) -> list[Any]:
    """A row's cells as ``decode_value`` reads each one."""
    return cells if is_plain(cells) else [decode_value(c) for c in cells]


def encode_value(value: Any) -> Any:
    """A cell or stored value as JSON: dates and times tagged, tuples as lists."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):  # before date: a datetime is a date too
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, time):
        return {"type": "time", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode_value(v) for k, v in value.items()}
    return str(value)


def decode_value(value: Any) -> Any:
    """A value sent as ``encode_value`` makes it; anything else is one plain refusal."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dict) and set(value) == {"type", "value"} and value["type"] in TAGGED:
        try:
            return TAGGED[value["type"]].fromisoformat(str(value["value"]))
        except ValueError:
            raise InputError(
                f"'{value['value']}' is not an ISO {value['type']} (as 2026-09-01)"
            ) from None
    if isinstance(value, list):
        return [decode_value(v) for v in value]
    raise InputError(
        "A cell holds text, a number, true/false, null, or a date or time written as "
        '{"type": "date", "value": "2026-09-01"}; this one holds something else'
    )


def encode_table(table: InputTable) -> dict[str, Any]:
    """What a front end read, as the body of an import request."""
    return {
        "headers": [encode_value(h) for h in table.headers],
        "rows": [[number, encode_cells(cells)] for number, cells in table.rows],
        "header_row": table.header_row,
        "sheet": table.sheet,
        "source_name": table.source_name,
        "source_sha256": table.source_sha256,
        "notes": {str(k): v for k, v in table.notes.items()},
        "labels": list(table.labels) if table.labels is not None else None,
    }


def encode_result(result: RowResult) -> dict[str, Any]:
    changes = (
        {
            name: [encode_value(old), encode_value(new)]
            for name, (old, new) in result.changes.items()
        }
        if result.changes is not None
        else None
    )
    return {
        "row": result.row,
        "key": result.key,
        "action": result.action,
        "reason": result.reason,
        "changes": changes,
        "sheet": result.sheet,
        "warning": result.warning,
    }


def decode_result(data: dict[str, Any]) -> RowResult:
    changes = data.get("changes")
    return RowResult(
        row=data["row"],
        key=data["key"],
        action=data["action"],
        reason=data["reason"],
        changes=(
            {k: (decode_value(old), decode_value(new)) for k, (old, new) in changes.items()}
            if changes is not None
            else None
        ),
        sheet=data.get("sheet"),
        warning=data.get("warning"),
    )


def encode_report(report: Report) -> dict[str, Any]:
    """A run's report as the server answers it: the batch, its counts and every row."""
    return {
        "kind": report.kind,
        "mode": report.mode,
        "batch_id": report.batch_id,
        "started_at": report.started_at.isoformat(),
        "finished_at": report.finished_at.isoformat(),
        "source_name": report.source_name,
        "counts": report.counts,
        "tallies": report.tallies,
        "options": encode_value(report.options),
        "extra": [[label, encode_value(value)] for label, value in report.extra],
        "preview": [list(p) for p in report.preview],
        "results": [encode_result(r) for r in report.results],
    }


def decode_report(data: dict[str, Any]) -> Report:
    """The report a server sent, equal to the one the service returned there."""
    return Report(
        kind=data["kind"],
        mode=data["mode"],
        batch_id=data["batch_id"],
        started_at=datetime.fromisoformat(data["started_at"]),
        finished_at=datetime.fromisoformat(data["finished_at"]),
        source_name=data["source_name"],
        results=[decode_result(r) for r in data["results"]],
        options={k: _plain(v) for k, v in data["options"].items()},
        extra=[(label, _plain(value)) for label, value in data["extra"]],
        preview=[(to, subject, body) for to, subject, body in data["preview"]],
    )


def _plain(value: Any) -> Any:
    """A summary value or option: as ``decode_value``, and a plain mapping stays one."""
    if isinstance(value, dict) and set(value) != {"type", "value"}:
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return decode_value(value)
