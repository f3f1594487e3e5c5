"""The incidents domain's one error: refused, with the reason and the input at fault."""

from __future__ import annotations

from civicshare.core.errors import DomainError


class IncidentError(DomainError):
    """Refused, with the reason a person can act on. `field` names the input at fault;
    `status` is the HTTP status the API and the pages answer with."""

    def response_headers(self) -> dict[str, str]:
        """The field at fault as a header too, as the incidents API has always sent it."""
        return {"X-Civicshare-Field": self.field} if self.field else {}
