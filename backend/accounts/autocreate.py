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
transaction. Everything is loaded in bulk, one query per table.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select

from backend.accounts.logon import logon_key
from backend.database.engine import records
from backend.database.models import (
    Contact,
    PortalUser,
    School,
    Student,
    StudentContact,
    StudentLink,
)
from backend.imports.batches import run_batch
from backend.imports.contract import Progress, Report, RowResult, key_chunks, no_progress
from backend.imports.links import LinkPlan, write_links
from backend.imports.users import UserPlan, write_users
from backend.mail.activation import ACTIVATION_LINK_MARK
from backend.mail.outbox import queue_messages
from backend.mail.templates import Template, context, get_template, render

CREATED = "Account created and student attached"
ATTACHED = "Student attached to the existing account"
PREVIEW_LINK = "(the activation link: made when the email is sent)"


@dataclass
class Options:
    """The seed's AutoCreate check boxes, and the selection of students."""

    schools: list[str] = field(default_factory=list)
    grades: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)
    create_accounts: bool = True
    attach_existing: bool = True
    guardians_only: bool = True
    portal_access_only: bool = True
    max_priority: int | None = None
    email_template: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v not in ([], None)}


@dataclass
class _Pair:
    student: dict[str, Any]
    contact: dict[str, Any]


@dataclass
class AutoCreatePlan:
    results: list[RowResult] = field(default_factory=list)
    users: UserPlan = field(default_factory=UserPlan)
    links: LinkPlan = field(default_factory=LinkPlan)
    # logon key -> (guardian fields, logon, students attached) of each account created
    created: dict[str, tuple[dict[str, Any], str, list[dict[str, Any]]]] = field(
        default_factory=dict
    )
    attached: int = 0
    preview: list[tuple[str, str, str]] = field(default_factory=list)


def _select_students(
    connection: Connection, options: Options
) -> tuple[list[dict[str, Any]], list[RowResult]]:
    query = select(
        Student.id,
        Student.student_id,
        Student.first_name,
        Student.last_name,
        Student.grade,
        Student.status,
        Student.email,
        School.code,
        School.name.label("school"),
    ).join(School, School.id == Student.school_id, isouter=True)
    problems: list[RowResult] = []
    if options.students:
        wanted = [s.strip() for s in options.students if s.strip()]
        rows = [
            row
            for chunk in key_chunks(wanted)
            for row in records(connection.execute(query.where(Student.student_id.in_(chunk))))
        ]
        found = {r["student_id"] for r in rows}
        problems = [
            RowResult(None, sid, "error", f"STUDENT_ID: there is no student '{sid}'")
            for sid in dict.fromkeys(wanted)
            if sid not in found
        ]
        inactive = [r for r in rows if r["status"] != "ACTIVE"]
        problems += [
            RowResult(
                None, r["student_id"], "skipped", f"Student {r['student_id']} is {r['status']}"
            )
            for r in inactive
        ]
        rows = [r for r in rows if r["status"] == "ACTIVE"]
    else:
        query = query.where(Student.status == "ACTIVE")
        if options.schools:
            query = query.where(
                or_(School.code.in_(options.schools), School.name.in_(options.schools))
            )
        if options.grades:
            query = query.where(Student.grade.in_([g.strip() for g in options.grades]))
        rows = records(connection.execute(query))
    rows.sort(key=lambda r: r["student_id"])
    return rows, problems


def _load(
    connection: Connection, students: list[dict[str, Any]]
) -> tuple[
    dict[int, list[dict[str, Any]]], dict[str, dict[str, Any]], set[tuple[int, int]], dict[str, str]
]:
    """Cards of the selected students, accounts and links of their emails, students' emails."""
    cards: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for chunk in key_chunks(s["id"] for s in students):
        for row in records(
            connection.execute(
                select(
                    StudentContact.student_id.label("student_pk"),
                    Contact.contact_id,
                    Contact.first_name,
                    Contact.last_name,
                    Contact.email,
                    Contact.email_key,
                    StudentContact.relationship,
                    StudentContact.is_guardian,
                    StudentContact.portal_access,
                    StudentContact.priority,
                )
                .join(Contact, Contact.id == StudentContact.contact_id)
                .where(StudentContact.student_id.in_(chunk))
            )
        ):
            cards[row["student_pk"]].append(row)
    for entries in cards.values():
        entries.sort(key=lambda c: (c["priority"] is None, c["priority"] or 0, c["contact_id"]))
    keys = {c["email_key"] for entries in cards.values() for c in entries if c["email_key"]}
    accounts: dict[str, dict[str, Any]] = {}
    for chunk in key_chunks(keys):
        for row in records(
            connection.execute(
                select(
                    PortalUser.id,
                    PortalUser.logon_key,
                    PortalUser.logon_id,
                    PortalUser.user_type,
                    PortalUser.status,
                ).where(PortalUser.logon_key.in_(chunk))
            )
        ):
            accounts[row["logon_key"]] = row
    links: set[tuple[int, int]] = set()
    for chunk in key_chunks(a["id"] for a in accounts.values()):
        links.update(
            (u, s)
            for u, s in connection.execute(
                select(StudentLink.user_id, StudentLink.student_id).where(
                    StudentLink.user_id.in_(chunk)
                )
            )
        )
    own: dict[str, str] = {}
    for sid, email in connection.execute(
        select(Student.student_id, Student.email).where(and_(Student.email.is_not(None)))
    ):
        if logon_key(email) in keys:
            own[logon_key(email)] = sid
    return cards, accounts, links, own


def _households(pairs: list[_Pair]) -> dict[str, str]:
    """Each email's verdict: '' when one person or one family uses it, else why not."""
    by_email: dict[str, list[_Pair]] = defaultdict(list)
    for pair in pairs:
        if pair.contact["email_key"]:
            by_email[pair.contact["email_key"]].append(pair)
    verdict: dict[str, str] = {}
    for key, users in by_email.items():
        people = {
            (p.contact["first_name"].casefold(), p.contact["last_name"].casefold()) for p in users
        }
        if len(people) == 1:
            verdict[key] = ""
            continue
        # Different names: fine only if every such contact shares a student with another.
        students_of: dict[tuple[str, str], set[str]] = defaultdict(set)
        for p in users:
            students_of[
                (p.contact["first_name"].casefold(), p.contact["last_name"].casefold())
            ].add(p.student["student_id"])
        groups = list(students_of.values())
        common = set.intersection(*groups) if groups else set()
        if common or len(groups) == 1:
            verdict[key] = ""
        else:
            first, other = (
                users[0],
                next(
                    p
                    for p in users
                    if (p.contact["first_name"], p.contact["last_name"])
                    != (users[0].contact["first_name"], users[0].contact["last_name"])
                ),
            )
            verdict[key] = (
                f"Email shared by {first.contact['first_name']} {first.contact['last_name']} "
                f"(contact {first.contact['contact_id']}, student {first.student['student_id']}) "
                f"and {other.contact['first_name']} {other.contact['last_name']} (contact "
                f"{other.contact['contact_id']}, student {other.student['student_id']}) of "
                "another household: no account from it (rule: two households, one email), "
                "as it would show one family's children to the other; fix one of the emails"
            )
    return verdict


def plan(connection: Connection, options: Options, template: Template | None) -> AutoCreatePlan:
    students, problems = _select_students(connection, options)
    cards, accounts, links, own = _load(connection, students)
    result = AutoCreatePlan(results=list(problems))
    pairs = [_Pair(s, c) for s in students for c in cards.get(s["id"], [])]
    verdicts = _households(pairs)
    first_of: dict[str, str] = {}  # email key -> the contact whose name the account takes
    for pair in pairs:
        student, contact = pair.student, pair.contact
        key = f"{student['student_id']} / {contact['contact_id']}"

        def skip(reason: str, key: str = key) -> None:
            result.results.append(RowResult(None, key, "skipped", reason))

        if options.guardians_only and not contact["is_guardian"]:
            skip("Not flagged as a guardian (rule: guardians only)")
            continue
        if options.portal_access_only and not contact["portal_access"]:
            skip("Portal access is not allowed for this contact (rule: portal access only)")
            continue
        if options.max_priority is not None and (
            contact["priority"] is None or contact["priority"] > options.max_priority
        ):
            skip(
                f"Priority {contact['priority'] or '(none)'} is past the highest priority "
                f"asked for ({options.max_priority})"
            )
            continue
        email_key = contact["email_key"]
        if not email_key:
            skip("No email on the contact card; add one to make an account")
            continue
        if email_key in own:
            skip(
                f"The email is the student's own (STUDENT_EMAIL of student {own[email_key]}), "
                "not a guardian's"
            )
            continue
        if verdicts.get(email_key):
            skip(verdicts[email_key])
            continue
        account = accounts.get(email_key)
        if account is not None:
            _attach_existing(result, account, student, contact, key, links, options)
            continue
        if email_key in result.created:
            guardian, logon, attached = result.created[email_key]
            if any(s["id"] == student["id"] for s in attached):
                skip(
                    f"Already attached to the account created for {logon} (family inbox "
                    f"shared with contact {first_of[email_key]})"
                )
                continue
            attached.append(student)
            _link(result, None, email_key, student, contact)
            why = (
                "same person"
                if (contact["first_name"], contact["last_name"])
                == (guardian["first_name"], guardian["last_name"])
                else f"family inbox shared with contact {first_of[email_key]}"
            )
            result.results.append(
                RowResult(
                    None,
                    key,
                    "added",
                    f"Student attached to the account created above for {logon} ({why})",
                )
            )
            continue
        if not options.create_accounts:
            skip("No account has this email; creating accounts is turned off")
            continue
        logon = contact["email"].strip()
        result.users.inserts.append(
            {
                "logon_id": logon,
                "logon_key": email_key,
                "user_type": "GUARDIAN",
                "first_name": contact["first_name"],
                "last_name": contact["last_name"],
                "email": None,
                "phone": None,
                "language": None,
                "status": "ACTIVE",
            }
        )
        result.created[email_key] = (contact, logon, [student])
        first_of[email_key] = contact["contact_id"]
        _link(result, None, email_key, student, contact)
        result.results.append(RowResult(None, key, "added", f"{CREATED} ({logon})"))
    if template is not None:
        for guardian, logon, attached in list(result.created.values())[:3]:
            subject, body = render(template, context(guardian, logon, _students(attached)))
            body = body.replace(ACTIVATION_LINK_MARK, PREVIEW_LINK)
            result.preview.append((logon, subject, body))
        if not result.created:  # still check the template's fields
            render(template, context({"first_name": "A", "last_name": "B"}, "a@b.org", []))
    return result


def _students(students: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "first_name": s["first_name"],
            "last_name": s["last_name"],
            "grade": s["grade"],
            "school": s["school"] or "",
        }
        for s in students
    ]


def _link(
    result: AutoCreatePlan,
    user_id: int | None,
    email_key: str,
    student: dict[str, Any],
    contact: dict[str, Any],
) -> None:
    result.links.inserts.append(
        {
            "user_id": user_id,
            "logon_key": email_key,
            "student_id": student["id"],
            "relationship": contact["relationship"],
            "is_primary": contact["priority"] == 1,
            "notices": True,
        }
    )
    result.attached += 1


def _attach_existing(
    result: AutoCreatePlan,
    account: dict[str, Any],
    student: dict[str, Any],
    contact: dict[str, Any],
    key: str,
    links: set[tuple[int, int]],
    options: Options,
) -> None:
    logon = account["logon_id"]
    if account["user_type"] != "GUARDIAN":
        result.results.append(
            RowResult(
                None,
                key,
                "skipped",
                f"The email is the logon of a {account['user_type']} account, not a guardian's",
            )
        )
    elif (account["id"], student["id"]) in links:
        result.results.append(RowResult(None, key, "skipped", f"Already attached to {logon}"))
    elif account["status"] != "ACTIVE":
        result.results.append(
            RowResult(
                None, key, "skipped", f"The account {logon} is {account['status']}; not attached"
            )
        )
    elif not options.attach_existing:
        result.results.append(
            RowResult(
                None,
                key,
                "skipped",
                f"{logon} exists but is not attached to this student; "
                "attaching to existing accounts is turned off",
            )
        )
    else:
        links.add((account["id"], student["id"]))
        _link(result, account["id"], account["logon_key"], student, contact)
        result.results.append(RowResult(None, key, "added", f"{ATTACHED} {logon}"))


def _write(
    connection: Connection,
    result: AutoCreatePlan,
    batch_id: int,
    template: Template | None,
    progress: Progress,
) -> None:
    write_users(connection, result.users, batch_id, progress)
    write_links(connection, result.links, batch_id)
    if template is None or not result.created:
        return
    ids: dict[str, int] = dict(
        connection.execute(
            select(PortalUser.logon_key, PortalUser.id).where(
                PortalUser.created_batch_id == batch_id
            )
        ).all()
    )
    messages = []
    for key, (guardian, logon, attached) in result.created.items():
        subject, body = render(template, context(guardian, logon, _students(attached)))
        messages.append(
            {
                "batch_id": batch_id,
                "user_id": ids[key],
                "to_address": logon,
                "subject": subject,
                "body": body,
            }
        )
    progress("Queueing emails", 0, len(messages))
    queue_messages(connection, messages)
    progress("Queueing emails", len(messages), len(messages))


def autocreate(
    engine: Engine,
    options: Options,
    *,
    apply: bool = False,
    actor: str | None = None,
    progress: Progress = no_progress,
) -> Report:
    """Plan (and with ``apply`` do) AutoCreate; always record a batch with one event per pair."""
    template = get_template(engine, options.email_template) if options.email_template else None
    report, planned = run_batch(
        engine,
        kind="AutoCreate",
        options=options.as_dict(),
        table=None,
        apply=apply,
        plan=lambda connection: plan(connection, options, template),
        write=lambda connection, result, batch_id: _write(
            connection, result, batch_id, template, progress
        ),
        actor=actor,
        progress=progress,
    )
    report.extra = [
        ("Accounts created", len(planned.created)),
        ("Students attached", planned.attached),
        ("Emails queued", len(planned.created) if template else 0),
    ]
    report.preview = planned.preview
    return report


def parse_options(values: dict[str, Any]) -> Options:
    """Options from an Options sheet or the terminal: Y/N switches, comma-separated lists."""
    from backend.errors import InputError

    def flag(name: str, default: bool) -> bool:
        value = str(values.get(name, "") or "").strip().upper()
        if not value:
            return default
        if value in ("Y", "YES", "TRUE", "1"):
            return True
        if value in ("N", "NO", "FALSE", "0"):
            return False
        raise InputError(f"Option {name}: '{values[name]}' must be Y or N")

    def listed(name: str) -> list[str]:
        value = values.get(name)
        if value in (None, ""):
            return []
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return [part.strip() for part in str(value).split(",") if part.strip()]

    priority = values.get("MAX_PRIORITY")
    try:
        max_priority = int(float(priority)) if priority not in (None, "") else None
    except ValueError:
        raise InputError(f"Option MAX_PRIORITY: '{priority}' must be a whole number") from None
    template = str(values.get("EMAIL_TEMPLATE") or "").strip() or None
    return Options(
        schools=listed("SCHOOLS"),
        grades=listed("GRADES"),
        create_accounts=flag("CREATE_ACCOUNTS", True),
        attach_existing=flag("ATTACH_EXISTING", True),
        guardians_only=flag("GUARDIANS_ONLY", True),
        portal_access_only=flag("PORTAL_ACCESS_ONLY", True),
        max_priority=max_priority,
        email_template=template,
    )


def split_list(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]
