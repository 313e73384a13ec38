"""Errors a user can act on.

    PortalError            base: a message in plain language, safe to show as is
     +-- InputError        the file or command cannot be used; nothing was written (CLI exit 2)
     |    +-- HeaderError  the header row failed its check; lists every header problem
     +-- ResultNotWritten  the changes were saved, but their result could not be written (exit 3)
     +-- NotFoundError     a named record (account, batch, student) does not exist
     +-- SettingsError     a PORTAL_ setting of the environment has a value that cannot be used
     +-- NotSignedIn       a staff token that identifies no one (wrong, revoked or disabled)

Anything else escaping a service is a bug, not a user mistake.
"""


class PortalError(Exception):
    """Base of every error whose message is meant for the user."""


class InputError(PortalError):
    """The input as a whole is unusable; the run stopped before writing anything."""


class HeaderError(InputError):
    """Missing, duplicate or unknown headers, all named in one message."""


class ResultNotWritten(PortalError):
    """A run's changes were committed, but its result workbook could not be written; the
    message says which batch holds them, never that nothing happened."""


class NotFoundError(PortalError):
    """The record the user named does not exist."""


class SettingsError(PortalError):
    """A setting from the environment cannot be used; the message names the variable."""


class NotSignedIn(PortalError):
    """A staff token identifies no active staff member. One message whatever the reason, so a
    guess learns nothing about which tokens or staff exist."""
