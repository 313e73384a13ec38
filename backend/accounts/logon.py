"""Logon IDs: how they are stored, how they are compared, and when an email address is valid.

A logon is stored as entered (trimmed, Unicode NFC, domain lower-cased) and compared by its key,
``casefold()`` of that, so ``Jane.Doe@X.org`` and ``jane.doe@x.org`` are one account. Dots and
``+tags`` are never collapsed: ``j.doe@gmail.com`` and ``jdoe@gmail.com`` are two accounts.
"""

import re
import unicodedata

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

# A strict subset of what email-validator accepts (ASCII dot-atom local part, LDH domain labels,
# an alphabetic TLD); anything outside it goes to email-validator, which is ~50x slower.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST_EMAIL = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _fast_email(value: str) -> str | None:
    """The normalised address if the fast path can vouch for it, else None (ask email-validator)."""
    match = _FAST_EMAIL.fullmatch(value)
    if match is None or len(value) > 254 or len(match[1]) > 64:
        return None
    domain = match[2].lower()
    if domain.rsplit(".", 1)[-1] in SPECIAL_USE_DOMAIN_NAMES:
        return None
    return f"{match[1]}@{domain}"


def normalise_email(value: str) -> str:
    """Return the address as stored, or raise ValueError saying in plain words what is wrong."""
    value = value.strip()
    if value.isascii():  # NFC changes no ASCII text
        fast = _fast_email(value)
        if fast is not None:
            return fast
    else:
        value = unicodedata.normalize("NFC", value)
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"'{value}' is not a valid email address: {exc}") from None


def normalise_logon(value: str, *, email_required: bool = True) -> str:
    """A guardian logs on with an email address; a student may also have a plain username."""
    if not email_required and "@" not in value:
        value = unicodedata.normalize("NFC", value.strip())
        if _USERNAME.fullmatch(value):
            return value
        raise ValueError(
            f"'{value}' is neither an email address nor a username "
            "(letters, digits, dot, dash and underscore, at most 64)"
        )
    return normalise_email(value)


def logon_key(logon: str) -> str:
    """The identity of a logon: what two spellings of the same account have in common."""
    return logon.casefold()
