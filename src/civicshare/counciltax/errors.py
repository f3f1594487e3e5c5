"""The council tax domain's one error: refused, with the reason and the input at fault."""

from __future__ import annotations

from civicshare.core.errors import DomainError


class CouncilTaxError(DomainError):
    """Refused, with the reason a person can act on; `field` names the input at fault."""
