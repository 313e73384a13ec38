"""Notification templates staff can edit: Jinja2 in a sandbox with strict undefined.

A template that names a field we do not have is refused when it is saved and when a run is
simulated, never discovered halfway through sending. The activation link is only a mark when a
message is queued; the outbox puts a fresh link in its place when it sends.

A template may have variants per language, named after it: ``welcome.es`` (or ``welcome.spanish``)
goes to accounts whose LANGUAGE is Spanish, ``welcome`` to everyone else.
"""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2 import Template as JinjaTemplate
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Engine, insert, select, update

from backend.database.engine import read_transaction, write_transaction
from backend.database.models import EmailTemplate, utcnow
from backend.errors import InputError, NotFoundError
from backend.mail.activation import ACTIVATION_LINK_MARK

FIELDS = {
    "guardian_first_name": "the guardian's first name",
    "guardian_last_name": "the guardian's last name",
    "guardian_name": "first and last name",
    "logon_id": "the new account's logon (the email address)",
    "activation_link": "the link that sets the password (single use, expires)",
    "students": "the students attached, each with first_name, last_name, grade, school",
    "student_names": "the students' first names, e.g. 'Ava and Max'",
    "school": "the first student's school",
    "schools": "all the students' schools, e.g. 'Lincoln Elementary and Roosevelt High'",
}

SAMPLE: dict[str, Any] = {
    "guardian_first_name": "Maria",
    "guardian_last_name": "Lopez",
    "guardian_name": "Maria Lopez",
    "logon_id": "maria.lopez@example.org",
    "activation_link": ACTIVATION_LINK_MARK,
    "students": [
        {
            "first_name": "Ava",
            "last_name": "Lopez",
            "grade": "3",
            "school": "Lincoln Elementary School",
        }
    ],
    "student_names": "Ava",
    "school": "Lincoln Elementary School",
    "schools": "Lincoln Elementary School",
}

DEFAULT_NAME = "welcome"
DEFAULT_SUBJECT = "Your parent portal account for {{ student_names }}"
DEFAULT_BODY = """Dear {{ guardian_name }},

An account on the parent portal has been made for you, so you can follow \
{{ student_names }} at {{ schools }}.

Your logon is: {{ logon_id }}

Set your password with this link (it works once, for a limited time):
{{ activation_link }}

If you did not expect this message, you can ignore it.
"""

_environment = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)


@dataclass
class Template:
    name: str
    subject: str
    body: str


def _words(items: list[str]) -> str:
    unique = list(dict.fromkeys(i for i in items if i))
    return (
        " and ".join([", ".join(unique[:-1]), unique[-1]])
        if len(unique) > 1
        else (unique[0] if unique else "")
    )


def context(
    guardian: Mapping[str, Any], logon_id: str, students: list[Mapping[str, Any]]
) -> dict[str, Any]:
    """The merge fields of one message."""
    return {
        "guardian_first_name": guardian["first_name"],
        "guardian_last_name": guardian["last_name"],
        "guardian_name": f"{guardian['first_name']} {guardian['last_name']}",
        "logon_id": logon_id,
        "activation_link": ACTIVATION_LINK_MARK,
        "students": [dict(s) for s in students],
        "student_names": _words([s["first_name"] for s in students]),
        "school": students[0]["school"] if students else "",
        "schools": _words([s["school"] for s in students]),
    }


@lru_cache(maxsize=64)
def _compiled(source: str) -> JinjaTemplate:
    """A template's text compiled once: compiling costs far more than rendering one message."""
    return _environment.from_string(source)


def render(template: Template, fields: Mapping[str, Any]) -> tuple[str, str]:
    """Subject and body of one message; a template fault becomes a plain InputError."""
    try:
        subject = _compiled(template.subject).render(fields)
        body = _compiled(template.body).render(fields)
    except UndefinedError as exc:
        raise InputError(
            f"The email template '{template.name}' uses a field we do not have ({exc}); "
            f"the fields are: {', '.join(FIELDS)}"
        ) from None
    except TemplateError as exc:
        raise InputError(f"The email template '{template.name}' cannot be read: {exc}") from None
    # One line of printable text: a name from a file never adds a header or a control character.
    return " ".join("".join(c if c.isprintable() else " " for c in subject).split()), body


def check(template: Template) -> None:
    """Refuse a template that cannot be rendered, or whose message would not carry the link.

    The link is looked for in what the template renders, so ``{{activation_link }}`` or
    ``{{ activation_link | trim }}`` count and a link inside a ``{# comment #}`` does not.
    """
    if not template.subject.strip() or not template.body.strip():
        raise InputError(f"The email template '{template.name}' needs a subject and a body")
    render(template, SAMPLE)
    sentinel = f"https://portal.invalid/activate?token={secrets.token_hex(16)}"
    if sentinel not in render(template, SAMPLE | {"activation_link": sentinel})[1]:
        raise InputError(
            f"The email template '{template.name}' has no {{{{ activation_link }}}}: a new "
            "account cannot be used without it"
        )


LANGUAGE_CODES = {
    "arabic": "ar",
    "cantonese": "zh",
    "chinese": "zh",
    "english": "en",
    "espanol": "es",
    "español": "es",
    "francais": "fr",
    "français": "fr",
    "french": "fr",
    "german": "de",
    "haitian creole": "ht",
    "hmong": "hmn",
    "japanese": "ja",
    "korean": "ko",
    "mandarin": "zh",
    "polish": "pl",
    "portuguese": "pt",
    "russian": "ru",
    "somali": "so",
    "spanish": "es",
    "tagalog": "tl",
    "ukrainian": "uk",
    "vietnamese": "vi",
}
"""Language names staff type in LANGUAGE, and the code a template variant may be named with."""


def language_suffixes(language: str | None) -> list[str]:
    """The variant names an account's LANGUAGE picks, most specific first.

    'es-MX' gives es-mx then es; 'Spanish' gives spanish then es; blank gives none.
    """
    typed = " ".join((language or "").casefold().replace("_", "-").split())
    if not typed:
        return []
    suffixes = [typed, typed.split("-")[0], LANGUAGE_CODES.get(typed, "")]
    return [s for s in dict.fromkeys(suffixes) if s]


def variants(engine: Engine, name: str) -> dict[str, Template]:
    """A template and its language variants, by name in lower case ('welcome', 'welcome.es')."""
    base = get_template(engine, name)
    prefix = base.name.casefold() + "."
    found = {t.name.casefold(): t for t in list_templates(engine)}
    return {base.name.casefold(): base} | {
        key: t for key, t in found.items() if key.startswith(prefix)
    }


def for_language(templates: Mapping[str, Template], name: str, language: str | None) -> Template:
    """The variant of template ``name`` for the language, else the template itself."""
    base = name.strip().casefold()
    for suffix in language_suffixes(language):
        if f"{base}.{suffix}" in templates:
            return templates[f"{base}.{suffix}"]
    return templates[base]


def list_templates(engine: Engine) -> list[Template]:
    with read_transaction(engine) as connection:
        rows = connection.execute(
            select(EmailTemplate.name, EmailTemplate.subject, EmailTemplate.body).order_by(
                EmailTemplate.name
            )
        )
        return [Template(*row) for row in rows]


def get_template(engine: Engine, name: str) -> Template:
    for template in list_templates(engine):
        if template.name.casefold() == name.strip().casefold():
            return template
    if name.strip().casefold() == DEFAULT_NAME:
        return Template(DEFAULT_NAME, DEFAULT_SUBJECT, DEFAULT_BODY)
    raise NotFoundError(
        f"There is no email template '{name.strip()}'; `portal templates email list` shows them"
    )


def set_template(engine: Engine, name: str, subject: str, body: str) -> Template:
    """Add or replace a template, once it renders with every field we have."""
    template = Template(name.strip(), subject.strip(), body)
    if not template.name:
        raise InputError("An email template needs a name")
    check(template)
    with write_transaction(engine) as connection:
        found = connection.execute(
            update(EmailTemplate)
            .where(EmailTemplate.name == template.name)
            .values(subject=template.subject, body=template.body, updated_at=utcnow())
        ).rowcount
        if not found:
            connection.execute(
                insert(EmailTemplate).values(
                    name=template.name,
                    subject=template.subject,
                    body=template.body,
                    updated_at=utcnow(),
                )
            )
    return template


def parse_text(name: str, text: str) -> Template:
    """A template written as an email: a 'Subject:' line, a blank line, then the body."""
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    if not head.lower().startswith("subject:"):
        raise InputError(
            "An email template file starts with a line 'Subject: ...', then a "
            "blank line, then the body"
        )
    return Template(name, head.split(":", 1)[1].strip(), body)
