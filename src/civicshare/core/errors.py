"""The one error a domain raises when it refuses a request: a message a person can act on, the
HTTP status it means, and the field at fault when there is one. The API answers it as problem
details (RFC 9457), pages as an error page or the form again, the CLI as one line."""

from __future__ import annotations


class DomainError(Exception):
    """Refused, with the reason. Subclasses set `status`; `field` names the input at fault."""

    status: int = 400
    field: str | None = None

    def __init__(self, message: str, field: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        if status is not None:
            self.status = status
