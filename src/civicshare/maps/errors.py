"""The maps package's one error: refused, with the reason and the input at fault."""

from __future__ import annotations

from civicshare.core.errors import DomainError


class MapError(DomainError):
    """A request for reference layers that cannot be answered; `field` names the input at fault
    (for example `bbox`), `status` the HTTP status."""
