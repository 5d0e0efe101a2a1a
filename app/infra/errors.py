"""One error model for the whole API.

Domain code raises `DomainError(code, message, field)`; the GraphQL layer turns it into
the mutation's typed error (`{code, field, message}`) in one place
(`app.api.graphql.core.errors.handles_errors`). Anything else is unexpected: logged with its
traceback under a request id, and the client sees only that id.

Each domain has its own error-code enum (Saleor style); every one of them also carries
the common codes, so a shared rule (not found, permission) can be raised anywhere.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

COMMON_CODES = (
    "INVALID",
    "NOT_FOUND",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "CONFLICT",
    "RATE_LIMITED",
    "UPSTREAM_UNAVAILABLE",
)


def error_codes(name: str, *codes: str) -> Any:
    """A domain's error-code enum: its own codes plus the common ones."""
    members = dict.fromkeys((*COMMON_CODES, *codes))
    return StrEnum(name, {c: c for c in members})


CommonErrorCode = error_codes("CommonErrorCode")


class DomainError(Exception):
    """An expected failure: the caller shows `code`, `field` and `message`."""

    def __init__(self, code: StrEnum | str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.field = field
        self.message = message


class NotFound(DomainError):
    def __init__(self, what: str, field: str | None = None) -> None:
        super().__init__("NOT_FOUND", f"{what} not found", field)


class PermissionDenied(DomainError):
    def __init__(self, message: str = "not allowed", field: str | None = None) -> None:
        super().__init__("PERMISSION_DENIED", message, field)


class Invalid(DomainError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__("INVALID", message, field)


class RateLimited(DomainError):
    """A budget is spent: the client may try again after `retry_after` seconds."""

    def __init__(self, retry_after: int, field: str | None = None) -> None:
        super().__init__("RATE_LIMITED", f"too many requests; try again in {retry_after} s", field)
        self.retry_after = retry_after
