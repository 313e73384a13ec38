"""Settings from the environment (prefix ``PORTAL_``): one install serves test and district."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path(user_data_dir("parent-portal-accounts", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PORTAL_")

    database_url: str = f"sqlite:///{DEFAULT_DATA_DIR / 'portal.sqlite'}"
    # Uploaded workbooks are untrusted: refuse what no district roster needs.
    max_file_mb: int = 50
    max_unpacked_mb: int = 500
    # Seconds a write waits for another import's transaction before giving up.
    lock_timeout_s: int = 60

    # Outgoing mail (the outbox).
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_user: str | None = None
    smtp_password: str | None = None
    mail_from: str = "Parent Portal <no-reply@localhost>"
    send_per_minute: int = 60
    send_attempts: int = 5  # temporary (4xx) failures are retried this many times in all
    # Account activation: the portal page that takes a token, and how long a token lasts.
    activation_url: str = "https://portal.example.org/activate"
    activation_hours: int = 72
    # How hard a password is to hash: "production" is RFC 9106's low-memory argon2id profile;
    # "cheapest" is argon2-cffi's cheapest profile, fast and weak, meant for the test suite only.
    password_hash_cost: Literal["production", "cheapest"] = "production"


@lru_cache
def get_settings() -> Settings:
    return Settings()
