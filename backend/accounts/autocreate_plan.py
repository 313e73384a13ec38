"""AutoCreate's rules as a pure function of what was loaded and the options chosen.

``plan(state, options)`` touches no database: ``autocreate_store.load`` reads everything it
needs in bulk first, so every rule can be tested on plain values.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from backend.accounts.attach_rules import AttachRules, CardUse, Own
from backend.accounts.logon import same_but_case
from backend.imports.contract import RowResult
from backend.staff.scope import account_refusal

if TYPE_CHECKING:
    from backend.accounts.autocreate import Options

CREATED = "Account created and student attached"
ATTACHED = "Student attached to the existing account"


class StudentRow(NamedTuple):
    """A selected, active student (a tuple, as the cards' entries: a state's AutoCreate makes
    them by the hundred thousand, three times faster than dataclasses)."""

    id: int
    student_id: str
    first_name: str
    last_name: str
    grade: str | None
    school: str | None  # the school's name
    school_id: int | None = None


class CardContact(NamedTuple):
    """One contact on a student's card, with what the card says about them."""

    contact_id: str
    first_name: str
    last_name: str
    email: str | None
    email_key: str | None
    relationship: str | None
    is_guardian: bool
    portal_access: bool
    priority: int | None


@dataclass(frozen=True, slots=True)
class Account:
    """An account whose logon is one of the cards' emails."""

    id: int
    logon_key: str
    logon_id: str
    user_type: str
    status: str
    changeable: bool = True  # False: another school's staff look after it (school scope)


@dataclass
class State:
    """Everything the rules look at, loaded in bulk before planning."""

    students: list[StudentRow] = field(default_factory=list)  # in student ID order
    problems: list[RowResult] = field(default_factory=list)  # selected students not usable
    cards: dict[int, list[CardContact]] = field(default_factory=dict)  # in priority order
    accounts: dict[str, Account] = field(default_factory=dict)  # by logon key
    links: set[tuple[int, int]] = field(default_factory=set)  # (account id, student id)
    own: dict[str, Own] = field(default_factory=dict)  # email key -> students whose own it is
    # Who may see which child, judged over every card in the database; None judges the
    # selected students' cards alone (a state built by hand).
    rules: AttachRules | None = None


@dataclass(slots=True)
class Created:
    """An account the plan creates: in the name of its first contact, with its students."""

    guardian: CardContact
    logon: str
    students: list[StudentRow]


class Pair(NamedTuple):
    student: StudentRow
    contact: CardContact

    @property
    def key(self) -> str:
        return f"{self.student.student_id} / {self.contact.contact_id}"


@dataclass
class AutoCreatePlan:
    results: list[RowResult] = field(default_factory=list)
    user_inserts: list[dict[str, Any]] = field(default_factory=list)
    link_inserts: list[dict[str, Any]] = field(default_factory=list)
    # By logon key: the accounts this plan creates, and those an earlier part of the run
    # created that this part may attach more students to.
    created: dict[str, Created] = field(default_factory=dict)
    # The created accounts whose every student is now planned: their emails can be written.
    complete: list[Created] = field(default_factory=list)
    attached: int = 0


def plan(
    state: State, options: "Options", carried: dict[str, Created] | None = None
) -> AutoCreatePlan:
    """Each student-contact pair's outcome, one row each, in student then priority order.

    ``carried`` are accounts created by earlier parts of the same run, by logon key: a pair
    whose email is one of them attaches to it as to an account created above, whether or not
    the earlier part was already written.
    """
    result = AutoCreatePlan(results=list(state.problems), created=dict(carried or {}))
    pairs = [Pair(s, c) for s in state.students for c in state.cards.get(s.id, [])]
    rules = state.rules if state.rules is not None else _rules_of(pairs, state.own)
    links = set(state.links)
    for pair in pairs:
        reason = _rule_out(pair, options, rules)
        email_key = pair.contact.email_key
        if reason or email_key is None:
            outcome = RowResult(None, pair.key, "skipped", reason)
        elif email_key in result.created:
            outcome = _attach_created(result, result.created[email_key], pair)
        elif email_key in state.accounts:
            outcome = _attach_existing(result, state.accounts[email_key], pair, links, options)
        elif not options.create_accounts:
            outcome = RowResult(
                None,
                pair.key,
                "skipped",
                "No account has this email; creating accounts is turned off",
            )
        else:
            outcome = _create(result, email_key, pair)
        result.results.append(outcome)
    return result


def _rules_of(pairs: list[Pair], own: dict[str, Own]) -> AttachRules:
    """The rules judged on these pairs' cards alone."""
    rules = AttachRules(own=dict(own))
    for p in pairs:
        if p.contact.email_key:
            rules.uses.setdefault(p.contact.email_key, []).append(card_use(p.student, p.contact))
    return rules


def card_use(student: StudentRow, contact: CardContact) -> CardUse:
    """The rules' view of one entry on a student's card (its contact has an email)."""
    return CardUse(
        contact.email_key or "",
        student.id,
        student.student_id,
        contact.contact_id,
        contact.first_name,
        contact.last_name,
        contact.portal_access,
        student.school_id,
    )


def _rule_out(pair: Pair, options: "Options", rules: AttachRules) -> str:
    """Why the pair makes no account and no attachment, or '' when it may: AutoCreate's own
    options first, then the rules every path obeys."""
    contact = pair.contact
    if options.guardians_only and not contact.is_guardian:
        return "Not flagged as a guardian (rule: guardians only)"
    if options.max_priority is not None and (
        contact.priority is None or contact.priority > options.max_priority
    ):
        return (
            f"Priority {contact.priority or '(none)'} is past the highest priority "
            f"asked for ({options.max_priority})"
        )
    if not contact.email_key:
        return "No email on the contact card; add one to make an account"
    return rules.refusal(contact.email_key, "GUARDIAN", pair.student.id, pair.student.student_id)


def _link(result: AutoCreatePlan, user_id: int | None, email_key: str, pair: Pair) -> None:
    result.link_inserts.append(
        {
            "user_id": user_id,
            "logon_key": email_key,
            "student_id": pair.student.id,
            "relationship": pair.contact.relationship,
            "is_primary": pair.contact.priority == 1,
            "notices": True,
        }
    )
    result.attached += 1


def _attach_existing(
    result: AutoCreatePlan,
    account: Account,
    pair: Pair,
    links: set[tuple[int, int]],
    options: "Options",
) -> RowResult:
    logon = account.logon_id
    if not account.changeable:
        return RowResult(None, pair.key, "error", account_refusal(logon))
    if account.user_type != "GUARDIAN":
        reason = f"The email is the logon of a {account.user_type} account, not a guardian's"
    elif not same_but_case(logon, pair.contact.email or ""):
        reason = (
            f"The email {pair.contact.email} is not the logon {logon}, though they compare alike"
        )
    elif (account.id, pair.student.id) in links and account.status != "ACTIVE":
        return RowResult(
            None,
            pair.key,
            "skipped",
            f"Already attached to {logon}",
            warning=f"The account {logon} is {account.status}: the guardian cannot log on to "
            "see the student until it is made ACTIVE",
        )
    elif (account.id, pair.student.id) in links:
        reason = f"Already attached to {logon}"
    elif account.status != "ACTIVE":
        reason = f"The account {logon} is {account.status}; not attached"
    elif not options.attach_existing:
        reason = (
            f"{logon} exists but is not attached to this student; "
            "attaching to existing accounts is turned off"
        )
    else:
        links.add((account.id, pair.student.id))
        _link(result, account.id, account.logon_key, pair)
        return RowResult(None, pair.key, "added", f"{ATTACHED} {logon}")
    return RowResult(None, pair.key, "skipped", reason)


def _attach_created(result: AutoCreatePlan, created: Created, pair: Pair) -> RowResult:
    """A further student (or a further contact) for an account this plan creates."""
    first = created.guardian
    if any(s.id == pair.student.id for s in created.students):
        return RowResult(
            None,
            pair.key,
            "skipped",
            f"Already attached to the account created for {created.logon} (family inbox "
            f"shared with contact {first.contact_id})",
        )
    created.students.append(pair.student)
    assert first.email_key is not None
    _link(result, None, first.email_key, pair)
    same = (pair.contact.first_name, pair.contact.last_name) == (first.first_name, first.last_name)
    why = "same person" if same else f"family inbox shared with contact {first.contact_id}"
    return RowResult(
        None,
        pair.key,
        "added",
        f"Student attached to the account created above for {created.logon} ({why})",
    )


def _create(result: AutoCreatePlan, email_key: str, pair: Pair) -> RowResult:
    contact = pair.contact
    logon = (contact.email or "").strip()
    result.user_inserts.append(
        {
            "logon_id": logon,
            "logon_key": email_key,
            "user_type": "GUARDIAN",
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": None,
            "phone": None,
            "language": None,
            "status": "ACTIVE",
        }
    )
    result.created[email_key] = Created(contact, logon, [pair.student])
    _link(result, None, email_key, pair)
    return RowResult(None, pair.key, "added", f"{CREATED} ({logon})")
