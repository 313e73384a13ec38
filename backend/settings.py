"""Settings from the environment (prefix ``PORTAL_``): one install serves test and district.

They are read with the standard library: every command reads them at start, and a settings
library costs each start about a tenth of a second. A value that cannot be used is refused with
the variable's name and what it must be.
"""

import os
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path
from types import UnionType
from typing import Any, Literal, get_args, get_origin, get_type_hints

from platformdirs import user_data_dir

from backend.errors import SettingsError

DEFAULT_DATA_DIR = Path(user_data_dir("parent-portal-accounts", appauthor=False))
PREFIX = "PORTAL_"


@dataclass(frozen=True)
class Settings:
    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'portal.sqlite'}"
    # Uploaded workbooks are untrusted: refuse what no district roster needs.
    max_file_mb: int = 50
    max_unpacked_mb: int = 500
    # Text a sheet may hold once repeated (shared) text is counted in every cell, in millions
    # of characters: a small file must not make the reader copy one long text a million times.
    max_text_mb: int = 100
    # Seconds a write waits for another import's transaction before giving up.
    lock_timeout_s: int = 60
    # Where the Excel add-in writes the details of an error it could not explain, for IT.
    log_folder: str = str(DEFAULT_DATA_DIR / "logs")

    # Outgoing mail (the outbox).
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Parent Portal <no-reply@localhost>"
    send_per_minute: int = 60
    send_attempts: int = 5  # temporary (4xx) failures are retried this many times in all
    outbox_poll_s: int = 5  # how often `portal outbox worker` looks for mail that is due
    # Account activation: the portal page that takes a token, and how long a token lasts.
    activation_url: str = "https://portal.example.org/activate"
    activation_hours: int = 72
    # A printed letter's activation code: how many days it lasts, and how many wrong codes
    # typed with the account's logon make it stop working.
    letter_code_days: int = 30
    letter_code_attempts: int = 10
    # The activation page: how many times one client address may submit it in 10 minutes.
    activation_attempts_per_10_minutes: int = 10
    # The secret that makes each message's activation link, kept outside the database (made on
    # first use). Every computer that sends mail must read the same file.
    activation_secret_file: str = str(DEFAULT_DATA_DIR / "activation-secret")
    # How hard a password is to hash: "production" is RFC 9106's low-memory argon2id profile;
    # "cheapest" is argon2-cffi's cheapest profile, fast and weak, meant for the test suite only.
    password_hash_cost: Literal["production", "cheapest"] = "production"
    # Year-end upkeep lists the ACTIVE accounts still not activated this many days after they
    # were made.
    not_activated_days: int = 60
    # The district server (`portal serve`): the largest request body it reads, in megabytes
    # (a users table of 100,000 rows is about 15 MB of JSON), and how many requests one staff
    # token may make a minute in each server process (0: no limit).
    server_max_request_mb: int = 100
    server_rate_per_minute: int = 240
    # Client mode: the district server that the add-in and `portal` run on instead of a
    # database, and a staff token for scripts (people use `portal login`, which keeps it in the
    # operating system's credential store).
    server_url: str | None = None
    server_token: str | None = None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> "Settings":
        environ = dict(os.environ) if environ is None else environ
        types = get_type_hints(cls)
        values = {
            field.name: _convert(PREFIX + field.name.upper(), environ[key], types[field.name])
            for field in fields(cls)
            if (key := PREFIX + field.name.upper()) in environ
        }
        return cls(**values)


def _convert(name: str, text: str, kind: Any) -> Any:
    """The environment's text as the setting's type, or a message naming the variable."""
    if isinstance(kind, UnionType):  # ``str | None``: an empty value is no value
        kind = next(arg for arg in get_args(kind) if arg is not type(None))
        if not text.strip():
            return None
    if get_origin(kind) is Literal:
        choices = get_args(kind)
        if text.strip().lower() not in choices:
            raise SettingsError(f"{name} is '{text}': it must be {' or '.join(choices)}")
        return text.strip().lower()
    if kind is int:
        try:
            return int(text.strip())
        except ValueError:
            raise SettingsError(f"{name} is '{text}': it must be a whole number") from None
    return text


@lru_cache
def get_settings() -> Settings:
    return Settings.from_environment()
