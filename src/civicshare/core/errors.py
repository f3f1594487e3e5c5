"""The one error a domain raises when it refuses a request: a message a person can act on, the
HTTP status it means, and the field at fault when there is one. The API answers it as problem
details (RFC 9457), pages as an error page or the form again, the CLI as one line."""

from __future__ import annotations

from typing import Any


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

    def problem_members(self) -> dict[str, Any]:
        """What the API's problem details add to the status and message: the field at fault
        (a subclass may add more, e.g. every rule an agreement breaks)."""
        return {"field": self.field} if self.field else {}

    def response_headers(self) -> dict[str, str]:
        """Headers the API's answer carries (none unless a subclass says)."""
        return {}
