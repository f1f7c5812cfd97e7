"""Domain exceptions. Their messages are shown to nurses as they are, so they read as sentences."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every error the domain raises on purpose."""


class ValidationError(DomainError):
    """One or more entered values are wrong.

    Attributes:
        field_errors: field name -> message; a dialog shows each message next to its field.
    """

    def __init__(self, field_errors: dict[str, str]) -> None:
        self.field_errors = dict(field_errors)
        super().__init__("; ".join(self.field_errors.values()))


class TemplateError(DomainError):
    """A pathway template or catalogue file is broken; the message names the file and the key."""


class InvalidTransition(DomainError):
    """The change does not fit the current state (e.g. undoing a milestone still planned)."""


class NotFound(DomainError):
    """The record asked for does not exist (any more)."""


class StorageError(DomainError):
    """The database refused an action (busy, read-only, gone); nothing of the action was saved."""


class ConcurrentEdit(DomainError):
    """Someone else changed the record since it was read; nothing was overwritten."""


class PermissionDenied(DomainError):
    """The signed-in user's role does not allow the action; nothing was saved."""


class ConnectionLost(StorageError):
    """The connection to a database server dropped mid-action (issue 7); nothing was saved and
    the next action reconnects."""
