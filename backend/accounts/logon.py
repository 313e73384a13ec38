"""Logon IDs: how they are stored, how they are compared, and when an email address is valid.

A logon is stored as entered (trimmed, Unicode NFC, domain lower-cased) and compared by its key,
the NFKC-normalised, case-folded logon, so ``Jane.Doe@X.org`` and ``jane.doe@x.org`` are one
account. Dots and ``+tags`` are never collapsed: ``j.doe@gmail.com`` and ``jdoe@gmail.com`` are
two accounts. What looks like another logon on screen is refused, naming the character: a
compatibility form (the Kelvin sign, full-width letters) or letters of two scripts (a Cyrillic
letter in a Latin address). An address in one script (``иван@пример.рф``) is welcome.
"""

import re
import unicodedata
from collections import Counter

from backend.imports.cell_values import char_name, refuse_invisible

LOCAL_PART_MAX = 64
"""The most characters before the @ (RFC 5321)."""
ADDRESS_MAX = 254
"""The most characters in an address (RFC 5321's path, less its angle brackets)."""

# A strict subset of what email-validator accepts (ASCII dot-atom local part, LDH domain labels,
# an alphabetic TLD); anything outside it goes to email-validator, which is ~50x slower.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_FAST_EMAIL = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@((?:{_LABEL}\.)+[A-Za-z]{{2,63}})")
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SPECIAL_USE_DOMAINS = frozenset(("arpa", "invalid", "local", "localhost", "onion", "test"))
"""email-validator's special-use domain names (a test keeps them equal): the fast path refuses
them as it does, without loading email-validator (a fiftieth of a second) for every import."""


def _fast_email(value: str) -> str | None:
    """The normalised address if the fast path can vouch for it, else None (ask email-validator)."""
    match = _FAST_EMAIL.fullmatch(value)
    if match is None or len(value) > 254 or len(match[1]) > 64:
        return None
    domain = match[2].lower()
    if domain.rsplit(".", 1)[-1] in SPECIAL_USE_DOMAINS:
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
        refuse_look_alikes(value)
        value = unicodedata.normalize("NFC", value)
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"'{value}' is not a valid email address: {exc}") from None
    local = address.rpartition("@")[0]
    if len(local) > LOCAL_PART_MAX:
        raise ValueError(
            f"'{value}' is not a valid email address: the part before the @ has "
            f"{len(local)} characters; at most {LOCAL_PART_MAX} are allowed"
        )
    if len(address) > ADDRESS_MAX:
        raise ValueError(
            f"'{value}' is not a valid email address: it has {len(address)} characters; "
            f"at most {ADDRESS_MAX} are allowed"
        )
    return address


def normalise_logon(value: str, *, email_required: bool = True) -> str:
    """A guardian logs on with an email address; a student may also have a plain username."""
    if not email_required and "@" not in value:
        value = value.strip()
        if not value.isascii():
            refuse_look_alikes(value)
        value = unicodedata.normalize("NFC", value)
        if _USERNAME.fullmatch(value):
            return value
        raise ValueError(
            f"'{value}' is neither an email address nor a username "
            "(letters, digits, dot, dash and underscore, at most 64)"
        )
    return normalise_email(value)


def logon_key(logon: str) -> str:
    """The identity of a logon: what two spellings of the same account have in common."""
    if logon.isascii():  # NFKC changes no ASCII text, and casefold is lower
        return logon.lower()
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", logon).casefold())


def same_but_case(stored: str, typed: str) -> bool:
    """Whether two logons of one key differ at most in capitals: only then may a row that
    names ``typed`` change the account stored as ``stored`` (``strauß`` is not ``strauss``)."""
    return stored == typed or stored.lower() == typed.lower()


# Scripts that one writing system mixes: Japanese writes Han, Hiragana and Katakana together.
_WRITING_SYSTEMS = {
    "CJK": frozenset(("JAPANESE", "CHINESE", "KOREAN")),
    "HIRAGANA": frozenset(("JAPANESE",)),
    "KATAKANA": frozenset(("JAPANESE",)),
    "BOPOMOFO": frozenset(("CHINESE",)),
    "HANGUL": frozenset(("KOREAN",)),
}
# Scripts with letters that pass for Latin ones: never mixed with Latin letters. Others (an
# address of Han or Arabic letters at a Latin domain) may be.
_LATIN_LOOK_ALIKES = frozenset(("CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU"))


def _script(char: str) -> str | None:
    """The script of a letter or digit ('LATIN', 'CYRILLIC', 'CJK' ...); None for the rest."""
    if char.isascii():
        return "LATIN" if char.isalpha() else None
    if unicodedata.category(char)[0] not in "LN":
        return None  # marks, punctuation and symbols belong to every script
    word = unicodedata.name(char, "").split(" ", 1)[0].split("-", 1)[0]
    return None if word in ("", "MODIFIER") else word


def _systems(script: str) -> frozenset[str]:
    return _WRITING_SYSTEMS.get(script, frozenset((script,)))


def _mixed(scripts: set[str]) -> bool:
    """Whether letters of these scripts make a look-alike rather than one writing system."""
    others = scripts - {"LATIN"}
    if "LATIN" in scripts and others & _LATIN_LOOK_ALIKES:
        return True
    return bool(others) and not frozenset.intersection(*(_systems(s) for s in others))


def refuse_look_alikes(value: str) -> None:
    """Raise ValueError naming a character that makes ``value`` look like another logon.

    Invisible characters, compatibility forms (what NFKC would change: the Kelvin sign,
    full-width letters, ligatures) and letters of scripts that are not written together (a
    Cyrillic letter among Latin ones) are refused.
    """
    refuse_invisible(value)
    for char in value:
        plain = unicodedata.normalize("NFKC", char)
        if plain != char:
            raise ValueError(
                f"'{value}' holds {char} ({char_name(char)}), a look-alike of '{plain}'; "
                "type it with ordinary letters"
            )
    scripts = [(char, script) for char in value if (script := _script(char))]
    if not _mixed({script for _, script in scripts}):
        return
    main = Counter(script for _, script in scripts).most_common(1)[0][0]
    char, script = next(
        ((c, s) for c, s in scripts if _mixed({main, s})),
        next((c, s) for c, s in scripts if s != main),
    )
    raise ValueError(
        f"'{value}' mixes {main.title()} and {script.title()} letters: {char} "
        f"({char_name(char)}) looks like a {main.title()} letter; type the logon in one alphabet"
    )
