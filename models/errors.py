"""Domain exceptions: what went wrong, in the domain's words.

``api/errors.py`` maps each class to an HTTP problem once; nothing here knows a
status code.
"""


class DomainError(Exception):
    """Base class of every error a domain function raises on purpose."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFoundError(DomainError):
    """The object does not exist, or was soft-deleted (which counts as gone)."""

    def __init__(self, entity: str, key: object):
        super().__init__(f"{entity} {key} does not exist")
        self.entity = entity
        self.key = key


class ConflictError(DomainError):
    """The change contradicts the current state: a duplicate, a stale version."""


class PreconditionFailedError(DomainError):
    """The client edited a version of the object that is no longer current."""

    def __init__(self, entity: str, key: object, current: int | None):
        at = f"is at version {current}" if current is not None else "has changed"
        super().__init__(f"{entity} {key} {at}, not the one you edited; fetch it again and retry")


class InvalidValueError(DomainError):
    """A value breaks a rule that no schema can state (an email too long once normalised)."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field} {rule}")
        self.field = field
        self.rule = rule


class ForbiddenError(DomainError):
    """The actor is known but may not do this."""


class InvalidCredentialsError(DomainError):
    """The email and password do not name an active user."""

    def __init__(self):
        super().__init__("Invalid email or password")
