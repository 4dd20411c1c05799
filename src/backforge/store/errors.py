"""What can go wrong with a record operation, in the store's own words (no HTTP here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    path: str  # JSON pointer into the request, e.g. "/price"
    message: str


class StoreError(Exception):
    """Base of every failure a client can cause or must be told about."""

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(detail)


class NotFound(StoreError):
    pass


class Forbidden(StoreError):
    pass


class InvalidQuery(StoreError):
    """A bad filter, sort, cursor or parameter; `parameter` and `position` locate it."""

    def __init__(self, detail: str, parameter: str, position: int | None = None):
        super().__init__(detail)
        self.parameter = parameter
        self.position = position


class ValidationFailed(StoreError):
    def __init__(self, problems: list[FieldProblem], detail: str = "the record is not valid"):
        super().__init__(detail)
        self.problems = problems


class Conflict(StoreError):
    def __init__(self, detail: str, field: str | None = None):
        super().__init__(detail)
        self.field = field


class PreconditionFailed(StoreError):
    pass


class Unavailable(StoreError):
    """The database cannot be reached; nothing was written."""


class Refused(StoreError):
    """Business logic said no (a hook): answered with the given status, naming a field."""

    def __init__(self, detail: str, status: int = 422, field: str | None = None):
        super().__init__(detail)
        self.status = status
        self.field = field


class HookFailed(StoreError):
    """A hook raised something other than Refused: the write was rolled back."""
