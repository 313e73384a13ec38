"""AutoCreate: accounts from the guardian contacts of a selection of students.

For each student selected and each contact on the student's card, in priority order, one row
says what happens and why: an account is created (logon = the contact's primary email) and the
student attached, the student is attached to an existing guardian account, or nothing, with the
rule that decided. Three rules govern an email that several contacts share:

- the same person typed twice (same email, same name): one account, attached to all their
  students;
- a family inbox (same email, different names, on one student's card): one account, in the name
  of the contact who comes first, attached to their students;
- two households (same email, different names, no student in common): no account and no
  attachment from that email, because it would show one family's children to the other.

Simulation is the default; apply writes accounts, attachments and queued emails in one
transaction. The run is "load, then plan": ``autocreate_store.load`` reads everything in bulk,
one query per table, and ``autocreate_plan.plan`` applies the rules to what it read.

``Options`` is the one definition of AutoCreate's settings: the terminal's flags and the rows of
the AutoCreate template's Options sheet are made from its fields. This module therefore loads
light (the database side is imported when a run starts), so the terminal can build its flags
without loading the database libraries.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from backend.errors import InputError
from backend.imports.contract import Progress, Report, no_progress

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection, Engine

    from backend.accounts.autocreate_plan import AutoCreatePlan, Created, State
    from backend.imports.reviewed import Review
    from backend.mail.templates import Template
    from backend.staff.identity import Actor


@dataclass(frozen=True)
class Shown:
    """Where an option shows besides the terminal, whose help is the field's description."""

    sheet: str | None = None  # its description on the Options sheet; None: not on the sheet
    flag: str | None = None  # its terminal flag, when not made from the field's name


class Options(BaseModel):
    """AutoCreate's settings and its selection of students."""

    # The terminal reads the fields to build its flags at every start; the validators are only
    # needed when a run begins, so their schema is built then (a tenth of a second saved).
    model_config = ConfigDict(defer_build=True)

    schools: Annotated[
        list[str],
        Shown("School codes, comma-separated (e.g. 012,034). Blank: all schools.", "--school"),
    ] = Field(default_factory=list, description="Only students of this school (code); repeatable.")
    grades: Annotated[
        list[str], Shown("Grades, comma-separated (e.g. K,1,2). Blank: all grades.", "--grade")
    ] = Field(default_factory=list, description="Only students in this grade; repeatable.")
    students: list[str] = Field(
        default_factory=list,
        description="Only these students: a workbook whose first column is STUDENT_ID, "
        "or a text file with one ID a line.",
    )
    create_accounts: Annotated[
        bool,
        Shown(
            "Y: create an account for each guardian contact whose primary email is not yet a "
            "guardian logon."
        ),
    ] = Field(True, description="Create accounts for guardians whose email is no logon yet.")
    attach_existing: Annotated[
        bool,
        Shown(
            "Y: attach students to existing guardian accounts when the parent-student record "
            "is missing."
        ),
    ] = Field(True, description="Attach students to guardians' existing accounts.")
    guardians_only: Annotated[bool, Shown("Y: only contacts flagged as guardian.")] = Field(
        True, description="Only contacts flagged as guardians."
    )
    max_priority: Annotated[
        int | None,
        Shown(
            "Only contacts with this priority or better (1 = first contact). Blank: all contacts."
        ),
    ] = Field(None, description="Only contacts of this priority or better (1 = first).")
    email_template: Annotated[
        str | None,
        Shown("Name of the email template to send to each created account. Blank: no email."),
    ] = Field(None, description="Email each new account with this template.")

    @field_validator("schools", "grades", mode="before")
    @classmethod
    def _comma_lists(cls, value: Any) -> Any:
        """'012,034' and ['012,034', '056'] alike: the sheet and the terminal take comma lists."""
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple):
            return [part.strip() for item in value for part in str(item).split(",") if part.strip()]
        return value

    def as_dict(self) -> dict[str, Any]:
        """The options given, as the batch records them."""
        return {k: v for k, v in self.model_dump().items() if v not in ([], None)}

    @classmethod
    def from_sheet(cls, texts: Mapping[str, str]) -> "Options":
        """The options from the Options sheet's rows: option name -> its Value cell as text."""
        chosen: dict[str, Any] = {}
        for spec in option_specs():
            text = texts.get(spec.name, "").strip()
            if spec.sheet is None or not text:
                continue
            try:
                chosen[spec.field] = _parse(spec.annotation, text)
            except ValueError as exc:
                raise InputError(f"Option {spec.name}: {exc}") from None
        return cls(**chosen)


@dataclass(frozen=True)
class OptionSpec:
    """One option as the terminal and the Options sheet show it."""

    field: str  # the field of ``Options``
    name: str  # its row on the Options sheet: CREATE_ACCOUNTS
    flag: str  # its terminal flag: --create-accounts
    help: str  # the terminal's help
    sheet: str | None  # its description on the Options sheet; None: not on the sheet
    annotation: Any  # its type: bool, int | None, str | None, list[str]
    default: Any


def option_specs() -> list[OptionSpec]:
    """Every option of ``Options``, in the order of its fields."""
    specs = []
    for name, info in Options.model_fields.items():
        shown = next((m for m in info.metadata if isinstance(m, Shown)), Shown())
        specs.append(
            OptionSpec(
                field=name,
                name=name.upper(),
                flag=shown.flag or "--" + name.replace("_", "-"),
                help=info.description or "",
                sheet=shown.sheet,
                annotation=info.annotation,
                default=info.get_default(call_default_factory=True),
            )
        )
    return specs


def _parse(annotation: Any, text: str) -> Any:
    """An option's value from its text: Y/N for switches, a whole number for numbers."""
    if annotation is bool:
        from backend.imports.columns import yes_no

        return yes_no(text)
    if annotation in (int, int | None):
        if not text.lstrip("-").isdigit():
            raise ValueError(f"'{text}' must be a whole number")
        return int(text)
    return text


PART_STUDENTS = 50_000
"""Students planned, and in an apply written, at a time: a state's run keeps one part of its
students, cards and accounts in memory, whatever its size."""


@dataclass
class _Tally:
    """What the parts of one run made, for its summary."""

    created: int = 0
    attached: int = 0
    previews: list[tuple[str, str, str]] = field(default_factory=list)


def autocreate(
    engine: "Engine",
    options: Options,
    *,
    apply: bool = False,
    actor: "Actor" = None,
    progress: Progress = no_progress,
    review: "Review | None" = None,
    contact: str | None = None,
    kind: str = "AutoCreate",
) -> Report:
    """Plan (and with ``apply`` do) AutoCreate; always record a batch with one event per pair.

    With ``contact``, only that contact's entries on the selected students' cards are looked at:
    the contact card's create-account, under AutoCreate's rules.
    """
    from backend.accounts.autocreate_store import write
    from backend.database.models import PortalUser, StudentLink
    from backend.imports.batches import run_parts
    from backend.mail.templates import get_template

    template = get_template(engine, options.email_template) if options.email_template else None
    tally = _Tally()
    report = run_parts(
        engine,
        kind=kind,
        options=options.as_dict() | ({"contact": contact} if contact else {}),
        table=None,
        apply=apply,
        parts=lambda connection: _parts(
            connection, options, contact, actor, template, tally, progress
        ),
        write=lambda connection, part, batch_id: write(
            connection, part, batch_id, template, progress
        ),
        actor=actor,
        progress=progress,
        review=review,
        writes=(PortalUser, StudentLink),
    )
    report.extra[:0] = [
        ("Accounts created", tally.created),
        ("Students attached", tally.attached),
        ("Emails queued", tally.created if template else 0),
    ]
    report.preview = tally.previews
    return report


def _parts(
    connection: "Connection",
    options: Options,
    contact: str | None,
    actor: "Actor",
    template: "Template | None",
    tally: _Tally,
    progress: Progress,
) -> "Iterator[AutoCreatePlan]":
    """The selected students' plan ``PART_STUDENTS`` at a time, in student ID order; an
    account created for one part's student is carried to the parts whose students' cards also
    name its email."""
    from backend.accounts.attach_rules import shared_emails
    from backend.accounts.autocreate_plan import Created, plan
    from backend.accounts.autocreate_store import check_template, load, preview, selection

    ids, problems = selection(connection, options, actor)
    shared = shared_emails(connection) if len(ids) > PART_STUDENTS else None
    carried: dict[str, Created] = {}
    for start in range(0, max(len(ids), 1), PART_STUDENTS):
        progress("Planning", start, len(ids))
        state = load(connection, ids[start : start + PART_STUDENTS], contact, actor, shared)
        state.problems = problems if start == 0 else []
        part = plan(state, options, carried)
        carried = _carry(part, state, last=start + PART_STUDENTS >= len(ids))
        tally.created += len(part.user_inserts)
        tally.attached += part.attached
        if template is not None:
            tally.previews += preview(part.complete, template, len(tally.previews))
        yield part
        del state, part  # the next part is loaded without this one in memory
    progress("Planning", len(ids), len(ids))
    if template is not None and not tally.previews:
        check_template(template)


def _carry(part: "AutoCreatePlan", state: "State", *, last: bool) -> "dict[str, Created]":
    """The accounts of ``part`` that a later student's card names too, to carry to the next
    part; the others are complete, and go to ``part.complete``."""
    final = None if last or not state.students else state.students[-1].student_id
    uses = state.rules.uses if state.rules is not None else {}
    carried = {}
    for key, account in part.created.items():
        if final is not None and any(use.student_id > final for use in uses.get(key, ())):
            carried[key] = account
        else:
            part.complete.append(account)
    return carried
