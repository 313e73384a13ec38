"""The product's tables. Every schema change goes through an Alembic migration."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names, so migrations can name what they alter on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Integer ids that autoincrement on SQLite (INTEGER PRIMARY KEY) and are 64-bit on PostgreSQL.
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class School(Base):
    __tablename__ = "schools"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Student(Base):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # The district's student ID is text: leading zeros matter.
    student_id: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    grade: Mapped[str | None] = mapped_column(String(16))
    school_id: Mapped[int | None] = mapped_column(ForeignKey("schools.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    email: Mapped[str | None] = mapped_column(String(320))


class Contact(Base):
    """A person on one or more students' contact cards (a parent of siblings is one contact)."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    contact_id: Mapped[str] = mapped_column(String(64), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    email_key: Mapped[str | None] = mapped_column(String(320), index=True)


class StudentContact(Base):
    """A contact's place on one student's card: what they are to that student."""

    __tablename__ = "student_contacts"
    __table_args__ = (UniqueConstraint("student_id", "contact_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    relationship: Mapped[str | None] = mapped_column(String(50))
    is_guardian: Mapped[bool] = mapped_column(Boolean, default=True)
    portal_access: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int | None] = mapped_column(Integer)


class PortalUser(Base):
    """A parent-portal logon. ``logon_key`` is the identity; ``logon_id`` is shown as entered."""

    __tablename__ = "portal_users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    logon_id: Mapped[str] = mapped_column(String(320))
    logon_key: Mapped[str] = mapped_column(String(320), unique=True)
    user_type: Mapped[str] = mapped_column(String(16))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    language: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")
    # None means no usable password: accounts are activated by a single-use token, never given one.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    updated_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))


class StudentLink(Base):
    """A parent-student record: the students attached to an account."""

    __tablename__ = "student_links"
    __table_args__ = (UniqueConstraint("user_id", "student_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("portal_users.id", ondelete="CASCADE"))
    student_id: Mapped[int] = mapped_column(
        ForeignKey("students.id", ondelete="CASCADE"), index=True
    )
    relationship: Mapped[str | None] = mapped_column(String(50))
    # The household's main account for this student (mailings go to it first).
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Whether this account gets the school's notices about this student.
    notices: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))
    updated_batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"))


class Batch(Base):
    """One run: an import, an AutoCreate or a single-account action, simulated or applied."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(16))  # simulation | apply
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(200))
    source_name: Mapped[str | None] = mapped_column(String(500))
    source_sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    # The staff member who ran it, when the run came with a staff identity (a district server);
    # a run from a computer's own ``portal`` or Excel has none, and ``actor`` is its login name.
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # A simulation's row outcomes in one SHA-256 (``outcomes_digest``): an apply that plans
    # the same rows compares one value instead of reading back every event.
    outcomes_digest: Mapped[str | None] = mapped_column(String(64))


class BatchEvent(Base):
    """One row result of a batch: the audit trail of what happened to each input row."""

    __tablename__ = "batch_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), index=True)
    row_number: Mapped[int | None] = mapped_column(Integer)
    key: Mapped[str | None] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(16))
    changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)


class EmailTemplate(Base):
    """A notification staff can edit: a Jinja2 subject and body with merge fields."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboxMessage(Base):
    """A message queued in the transaction that made its account, sent after commit.

    ``body`` holds the placeholder ACTIVATION_LINK_MARK where the link goes: the link's token is
    made when the message is sent, so no usable token is ever stored.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("portal_users.id", ondelete="SET NULL"))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # queued -> sending -> sent; or failed (permanent), or skipped (the account is gone,
    # disabled or already activated, or a newer message replaces this one); a crash while
    # sending leaves "sending", which only ``portal outbox release`` puts back in the queue.
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The server's last reply, or why the message was not sent.
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the last attempt marked the message "sending": how long a stuck message has waited.
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Random; with the secret kept outside the database it makes the message's activation token,
    # so every attempt carries the same link and the database alone cannot make it.
    link_seed: Mapped[str | None] = mapped_column(String(64))


class ActivationToken(Base):
    """A single-use, expiring activation of an account; only the token's SHA-256 is kept."""

    __tablename__ = "activation_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("portal_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "link": an emailed link's token (its SHA-256); "letter": a printed code, typed with the
    # logon (an HMAC with the activation secret, since a short code alone could be guessed).
    kind: Mapped[str] = mapped_column(String(16), default="link", server_default="link")
    # Wrong codes typed with this account's logon; at the limit the code stops working.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Staff(Base):
    """A member of the district's staff who may use the portal through a district server.

    ``email_key`` is the email's identity, compared as logons are. ``identity_issuer`` and
    ``identity_subject`` name the person at the district's sign-in service (an OIDC issuer and
    its subject) once signing in there is possible; the schools a member sees never depend on it.
    """

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("identity_issuer", "identity_subject"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))  # district-admin | school-staff
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")  # ACTIVE | DISABLED
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    identity_issuer: Mapped[str | None] = mapped_column(String(500))
    identity_subject: Mapped[str | None] = mapped_column(String(255))


class StaffSchool(Base):
    """A school a school-staff member works for; a district admin has none and sees all."""

    __tablename__ = "staff_schools"

    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    school_id: Mapped[int] = mapped_column(ForeignKey("schools.id"), primary_key=True)


class StaffToken(Base):
    """A staff member's personal API token; only its SHA-256 is kept."""

    __tablename__ = "staff_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
