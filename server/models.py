"""The bodies the staff API takes and gives, as its OpenAPI schema describes them.

Requests refuse fields they do not know, so a misspelt option is an error rather than a
default silently used. Cells are checked and turned into values by ``server.wire``.
"""

from collections.abc import Iterable
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from backend.accounts.autocreate import Options
from backend.imports.contract import InputTable
from backend.imports.reviewed import Review
from backend.mail.templates import DEFAULT_NAME
from server.wire import decode_cells, decode_value

Cell = Annotated[
    Any,
    WithJsonSchema(
        {
            "description": "Text, a number, true/false, null, or a date or time as "
            '{"type": "date" | "datetime" | "time", "value": ISO 8601 text}',
            "anyOf": [
                {"type": "string"},
                {"type": "number"},
                {"type": "boolean"},
                {"type": "null"},
                {
                    "type": "object",
                    "properties": {
                        "type": {"enum": ["date", "datetime", "time"]},
                        "value": {"type": "string"},
                    },
                    "required": ["type", "value"],
                },
            ],
        }
    ),
]


RowNumber = Annotated[int, Field(ge=1, le=2**31 - 1)]
"""A sheet's row number: the audit trail stores it as a 32-bit whole number."""
BatchNumber = Annotated[int, Field(ge=1, le=2**63 - 1)]
"""A batch's number, as the database can hold it."""


NUL = "must not hold the character NUL (U+0000), which no workbook holds and the database refuses"


def refuse_nul(values: Iterable[Any]) -> None:
    """Refuse text holding NUL anywhere in ``values`` (lists and mappings looked into)."""
    for value in values:
        if isinstance(value, str):
            if "\x00" in value:
                raise ValueError(NUL)
        elif isinstance(value, list | tuple | set):
            refuse_nul(value)
        elif isinstance(value, dict):
            refuse_nul(value.keys())
            refuse_nul(value.values())


class Strict(BaseModel):
    """A request body: no field it does not know, no NUL in its text (cells are looked at
    by the import itself, as in local mode)."""

    model_config = ConfigDict(extra="forbid")
    cells: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        refuse_nul(
            value
            for name, value in self.__dict__.items()
            if name not in self.cells and not isinstance(value, BaseModel)
        )
        return self


class Table(Strict):
    """What a front end read from one sheet: headers, and rows that keep their row numbers."""

    cells: ClassVar[frozenset[str]] = frozenset({"headers", "rows"})

    headers: list[Cell]
    rows: list[tuple[RowNumber, list[Cell]]] = Field(
        description="[row number, [cell, ...]] for each row under the headers"
    )
    header_row: RowNumber = 1
    sheet: str | None = Field(None, description="Named in messages when a run reads several")
    source_name: str | None = Field(None, description="The file's name, for the audit trail")
    source_sha256: str | None = Field(
        None, description="The file's SHA-256: an apply follows the latest simulation of it"
    )
    notes: dict[int, list[str]] = Field(
        default_factory=dict, description="Problems the reader found in a row, by row number"
    )
    labels: list[str] | None = Field(None, description="Column names in messages (A, B, ...)")

    def input_table(self) -> InputTable:
        return InputTable(
            headers=[decode_value(h) for h in self.headers],
            rows=[(number, decode_cells(cells)) for number, cells in self.rows],
            header_row=self.header_row,
            sheet=self.sheet,
            source_name=self.source_name,
            source_sha256=self.source_sha256,
            notes=dict(self.notes),
            labels=self.labels,
        )


class Reviewed(Strict):
    """With an apply: the simulation staff reviewed, and whether to apply even rows that
    would now be done differently."""

    batch_id: BatchNumber | None = Field(
        None, description="Default: the latest simulation of the file"
    )
    confirmed: bool = False

    def review(self) -> Review:
        return Review(self.batch_id, confirmed=self.confirmed)


class Run(Strict):
    apply: bool = Field(False, description="Save the changes; without it, only simulate")
    review: Reviewed | None = Field(
        None, description="With apply: the simulation reviewed (as the terminal's --reviewed)"
    )

    def reviewed(self) -> Review | None:
        """None when not sent: the apply then compares with no simulation, as a script's."""
        return self.review.review() if self.review else None


class UsersImport(Run):
    table: Table
    mode: Literal["upsert", "insert-only", "update-only"] = "upsert"


class LinksImport(Run):
    table: Table
    schools: list[str] = Field(default_factory=list, description="Only students of these schools")


class RosterImport(Run):
    schools: Table | None = None
    students: Table | None = None
    contacts: Table | None = None


class AutoCreateOptions(Options):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        refuse_nul(self.__dict__.values())
        return self


class AutoCreateRun(Run):
    options: AutoCreateOptions = Field(default_factory=AutoCreateOptions)


class NewUser(Strict):
    logon_id: str
    user_type: Literal["GUARDIAN", "STUDENT"]
    last_name: str
    first_name: str
    email: str | None = None
    students: list[str] = Field(default_factory=list, description="Student IDs to attach")


class ModifyUser(Strict):
    changes: dict[
        Literal["first_name", "last_name", "email", "phone", "language", "status"], str
    ] = Field(default_factory=dict)
    attach: list[str] = Field(default_factory=list)
    detach: list[str] = Field(default_factory=list)
    relationship: str | None = Field(None, description="For the students attached now")


class ContactAccount(Strict):
    apply: bool = False
    email_template: str | None = None


class Undo(Strict):
    apply: bool = False


class Rename(Strict):
    old: str = Field(description="The account's logon ID now")
    new: str = Field(description="The logon ID it should have (no account has it)")
    apply: bool = False


class Merge(Strict):
    duplicate: str = Field(description="The logon ID of the duplicate account")
    keep: str = Field(description="The logon ID of the account to keep")
    apply: bool = False


class Logons(Strict):
    logon_ids: list[str] = Field(max_length=10_000)


class StudentIds(Strict):
    student_ids: list[str] = Field(max_length=10_000)


class RowResultOut(BaseModel):
    row: int | None
    key: str | None
    action: Literal["added", "updated", "removed", "skipped", "error"]
    reason: str
    changes: dict[str, tuple[Cell, Cell]] | None = Field(description="field -> [old, new]")
    sheet: str | None
    warning: str | None


class ReportOut(BaseModel):
    """A run's outcome: its batch, its counts and one result per row."""

    kind: str
    mode: Literal["simulation", "apply"]
    batch_id: int
    started_at: str
    finished_at: str
    source_name: str | None
    counts: dict[str, int]
    tallies: dict[str, int]
    options: dict[str, Any]
    extra: list[tuple[str, Cell]] = Field(description="More summary lines: [label, value]")
    preview: list[tuple[str, str, str]] = Field(description="Emails it would send: to, subject")
    results: list[RowResultOut]


class ErrorOut(BaseModel):
    error: str = Field(description="One line in plain language, as the terminal prints it")


class AccountChoice(Strict):
    """Accounts chosen by the options of `portal activation send` and `portal letters`: each
    option given narrows the choice."""

    logons: list[str] = Field(default_factory=list, max_length=10_000)
    school: str | None = Field(None, description="Accounts attached to a student there")
    batch: BatchNumber | None = Field(
        None, description="Accounts this batch added, or attached a student to"
    )
    not_activated: bool = Field(False, description="Only accounts with no password yet")


class ActivationSend(AccountChoice):
    """The accounts `portal activation send` chooses: each option given narrows the choice."""

    template: str = Field(
        DEFAULT_NAME, description="The email template; welcome.es ... by the account's LANGUAGE"
    )
    apply: bool = Field(False, description="Queue the emails; without it, only simulate")


class YearEnd(Run):
    """The year end: a simulation unless ``apply``; an apply follows ``review``."""


class LettersRun(AccountChoice):
    """The accounts `portal letters` chooses: each option given narrows the choice."""

    without_email: bool = Field(False, description="Only accounts with no email address")
    apply: bool = Field(False, description="Make the codes and the letters; else only simulate")
