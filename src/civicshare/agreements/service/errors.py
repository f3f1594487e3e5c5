"""Agreement errors, each an HTTP status for the adapters."""

from __future__ import annotations

from typing import Any

from civicshare.agreements.validation import Problem
from civicshare.core.errors import DomainError


class AgreementError(DomainError):
    """An agreement request refused, with the reason."""


class NotFound(AgreementError):
    status = 404


class NotAllowed(AgreementError):
    status = 403


class Conflict(AgreementError):
    status = 409


class SeparationOfDuties(NotAllowed):
    """A step refused because the person already took another part in this version (see the
    separation_of_duties setting)."""

    field = "actor"


class Invalid(AgreementError):
    """The version breaks one or more rules; `problems` names each field and message."""

    status = 422

    def __init__(self, problems: list[Problem], message: str | None = None) -> None:
        self.problems = problems
        super().__init__(
            message
            or "The agreement cannot be submitted yet: "
            + "; ".join(p.message.rstrip(".") for p in problems)
            + "."
        )

    def problem_members(self) -> dict[str, Any]:
        """Every rule broken, each with its field, in the API's problem details."""
        return {"errors": [{"field": p.field, "message": p.message} for p in self.problems]}
