"""Printed activation letters for chosen accounts, whatever made them: one batch in the audit trail.

For parents without email, or who never opened it: each letter gives the logon and a short
single-use code, typed on the portal's activation page (``activation.activate`` with ``logon``).
Accounts are chosen as ``portal activation send`` chooses them. A simulation lists who would get
a letter and makes no code. An apply makes the codes inside its write transaction and hands the
letters to ``deliver`` (the front end writes the files) before it commits: if the files cannot
be written, no code is stored and no older link is replaced. The codes live in those files only.

A letter replaces the account's unused links and codes, and its activation emails still queued
are not sent: the newest letter or email is the one that works.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, update

from backend.accounts.logon import logon_key
from backend.database.engine import where_in
from backend.database.models import OutboxMessage
from backend.errors import InputError
from backend.imports.batches import run_batch
from backend.imports.contract import Progress, Report, RowResult, no_progress
from backend.mail.activation import ACTIVATION_LINK_MARK, OPEN, as_utc, issue_codes
from backend.mail.activation_send import Choice, address_of, scoped_accounts, students_of
from backend.mail.templates import Template, context, for_language, render
from backend.settings import get_settings
from backend.staff.identity import Actor

KIND = "Activation letters"
LETTER_TEMPLATE = "letter"
CODE_MARK = "[[activation-code]]"
"""Where a letter's code goes: the code is made when the letters are applied."""
PREVIEW_CODE = "(the code: made when you apply)"
PREVIEWS = 3

_DISABLED = "The account is disabled: no letter is made for it."
_ACTIVATED = "The account is activated already: the parent signs in with their own password."
_HAS_EMAIL = (
    "The account has an email address ({address}): send it the activation email instead "
    "(`portal activation send`), or leave out --without-email."
)
_REPLACED = "A letter with an activation code replaces this email; it was not sent."

ENGLISH = Template(
    LETTER_TEMPLATE,
    "Your parent portal account",
    """Dear {{ guardian_name }},

An account on the parent portal has been made for you{% if student_names %}, so you can \
follow {{ student_names }} at {{ schools }}{% endif %}.

To choose your password, go to {{ activation_address }} and type:

Logon: {{ logon_id }}
Activation code: {{ activation_code }}

The code works once, until {{ code_expires }}. Capital or small letters and the dashes do not \
matter. Then sign in with your logon and the password you chose.

If the code has expired or does not work, ask the school office for a new letter. Keep this \
letter private: anyone with the code could set the password.
""",
)
SPANISH = Template(
    f"{LETTER_TEMPLATE}.es",
    "Su cuenta del portal para padres",
    """Estimado/a {{ guardian_name }}:

Se ha creado para usted una cuenta en el portal para padres{% if student_names %}, para que \
pueda seguir a {{ student_names }} en {{ schools }}{% endif %}.

Para elegir su contraseña, vaya a {{ activation_address }} y escriba:

Usuario: {{ logon_id }}
Código de activación: {{ activation_code }}

El código sirve una sola vez, hasta el {{ code_expires }}. No importa si escribe las letras en \
mayúsculas o minúsculas, ni los guiones. Después entre con su usuario y la contraseña que eligió.

Si el código ha vencido o no funciona, pida una carta nueva a la oficina de la escuela. Guarde \
esta carta en privado: cualquiera que tenga el código podría poner la contraseña.
""",
)
TEMPLATES = {t.name: t for t in (ENGLISH, SPANISH)}
"""The letters' texts by name; an account whose LANGUAGE has a variant gets that one."""


@dataclass(frozen=True)
class LetterChoice:
    """Which accounts get a letter: ``portal activation send``'s choice, and optionally only
    accounts without an email address."""

    accounts: Choice
    without_email: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The options as the audit trail keeps them."""
        options = self.accounts.as_dict() | {"without_email": self.without_email}
        options["template"] = LETTER_TEMPLATE
        return options


@dataclass
class Letter:
    """One account's letter; ``code`` is filled in when the letters are applied."""

    user_id: int
    logon_id: str
    first_name: str
    last_name: str
    language: str
    heading: str
    body: str
    students: list[Mapping[str, Any]]
    expires: date
    code: str = ""

    @property
    def text(self) -> str:
        """The letter's body as printed, with its code."""
        return self.body.replace(CODE_MARK, self.code or PREVIEW_CODE)


Deliver = Callable[[list[Letter]], Mapping[int, str]]
"""Writes the letters (inside the apply's transaction); returns a warning by account, if any."""


@dataclass
class LetterPlan:
    results: list[RowResult] = field(default_factory=list)
    letters: list[Letter] = field(default_factory=list)
    rows: dict[int, RowResult] = field(default_factory=dict)
    preview: list[tuple[str, str, str]] = field(default_factory=list)


def _refusal(account: Row[Any], without_email: bool) -> str | None:
    if account.status != OPEN:
        return _DISABLED
    if account.activated:
        return _ACTIVATED
    address = address_of(account)
    return _HAS_EMAIL.format(address=address) if without_email and address else None


def _letter(account: Row[Any], students: list[Mapping[str, Any]], expires: date) -> Letter:
    template = for_language(TEMPLATES, LETTER_TEMPLATE, account.language)
    guardian = {"first_name": account.first_name, "last_name": account.last_name}
    fields = context(guardian, account.logon_id, students) | {
        "activation_code": CODE_MARK,
        "code_expires": expires.isoformat(),
        "activation_address": get_settings().activation_url,
    }
    heading, body = render(template, fields)
    language = "Spanish" if template is SPANISH else "English"
    return Letter(
        account.id,
        account.logon_id,
        account.first_name,
        account.last_name,
        language,
        heading,
        body,
        students,
        expires,
    )


def plan_letters(
    connection: Connection, choice: LetterChoice, now: datetime, actor: Actor = None
) -> LetterPlan:
    """One row per chosen account (and per asked logon that has none), one letter per row that
    may get one; a school's staff choose among the accounts they may change."""
    planned = LetterPlan()
    accounts = scoped_accounts(connection, choice.accounts, actor)
    found = {a.logon_key for a in accounts}
    for logon in dict.fromkeys(x.strip() for x in choice.accounts.logons):
        if logon_key(logon) not in found:
            reason = f"There is no account with logon '{logon}': check the spelling."
            planned.results.append(RowResult(None, logon, "error", reason))
    students = students_of(connection, [a.id for a in accounts], actor)
    expires = (now + timedelta(days=get_settings().letter_code_days)).date()
    for account in accounts:
        refusal = _refusal(account, choice.without_email)
        if refusal:
            planned.results.append(RowResult(None, account.logon_id, "skipped", refusal))
            continue
        letter = _letter(account, students[account.id], expires)
        planned.letters.append(letter)
        row = RowResult(
            None, account.logon_id, "added", f"Letter in {letter.language}, code until {expires}"
        )
        planned.rows[account.id] = row
        planned.results.append(row)
        if len(planned.preview) < PREVIEWS:
            planned.preview.append((letter.logon_id, letter.heading, letter.text))
    return planned


def _skip_queued_emails(connection: Connection, user_ids: list[int]) -> None:
    """Activation emails still waiting for these accounts are not sent: the letter replaces them."""
    theirs = where_in(connection, OutboxMessage.user_id, user_ids)
    if theirs is None:
        return
    connection.execute(
        update(OutboxMessage)
        .where(
            theirs,
            OutboxMessage.status == "queued",
            OutboxMessage.body.contains(ACTIVATION_LINK_MARK, autoescape=True),
        )
        .values(status="skipped", last_error=_REPLACED)
    )


def make_letters(
    engine: Engine,
    choice: LetterChoice,
    deliver: Deliver,
    *,
    apply: bool = False,
    actor: Actor = None,
    progress: Progress = no_progress,
    now: datetime | None = None,
) -> Report:
    """Simulate, or with ``apply`` make, the chosen accounts' letters and codes: one batch."""
    accounts = choice.accounts
    if not (
        accounts.logons or accounts.school or accounts.batch is not None or accounts.not_activated
    ):
        raise InputError(
            "Choose the accounts: --logon, --school, --batch or --not-activated "
            "(each one given narrows the choice)"
        )
    now = as_utc(now)

    def write(connection: Connection, planned: LetterPlan, batch_id: int) -> None:
        user_ids = [letter.user_id for letter in planned.letters]
        progress("Making codes", 0, len(user_ids))
        codes = issue_codes(connection, user_ids, now=now)
        for letter in planned.letters:
            letter.code = codes[letter.user_id]
        _skip_queued_emails(connection, user_ids)
        progress("Making codes", len(user_ids), len(user_ids))
        for user_id, warning in deliver(planned.letters).items():
            planned.rows[user_id].warning = warning

    report, planned = run_batch(
        engine,
        kind=KIND,
        options=choice.as_dict(),
        table=None,
        apply=apply,
        plan=lambda connection: plan_letters(connection, choice, now, actor),
        write=write,
        actor=actor,
        progress=progress,
    )
    report.extra[:0] = [("Letters made", len(planned.letters) if apply else 0)]
    report.extra += [
        (f"Letter {n}", f"{logon}\n{heading}\n\n{text}")
        for n, (logon, heading, text) in enumerate(planned.preview, start=1)
    ]
    return report
