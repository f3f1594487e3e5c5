"""The incidents domain's one error: refused, with the reason and the input at fault."""

from __future__ import annotations


class IncidentError(Exception):
    """Refused, with the reason a person can act on. `field` names the input at fault;
    `status` is the HTTP status the API and the pages answer with."""

    def __init__(self, message: str, field: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status
