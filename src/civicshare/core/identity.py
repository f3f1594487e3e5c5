"""Who is acting: one person, acting as one membership of one partner, with that membership's
roles (and, for an API token, its scopes)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """What a person may do for one partner. Roles belong to a membership, never to a person."""

    admin = "admin"
    ig_lead = "ig_lead"
    data_provider = "data_provider"
    analyst = "analyst"
    responder = "responder"
    viewer = "viewer"
    elected_member = "elected_member"  # a councillor: raises members' enquiries
    caseworker = "caseworker"  # answers members' enquiries routed to the partner

    @property
    def label(self) -> str:
        return {
            "ig_lead": "IG lead",
            "data_provider": "Data provider",
            "elected_member": "Elected member",
        }.get(self.value, self.value.capitalize())


@dataclass(frozen=True)
class Actor:
    """Who is acting, as which membership. Permissions come from this one membership only."""

    person_id: int
    person_name: str
    membership_id: int
    partner_id: int
    partner_key: str
    partner_name: str
    roles: frozenset[Role]
    via: str  # "session", "token" or "cli"
    scopes: frozenset[str] | None = None  # None: every scope (signed-in people, the CLI)

    def has_role(self, *roles: Role) -> bool:
        return any(role in self.roles for role in roles)

    def has_scope(self, scope: str) -> bool:
        return self.scopes is None or scope in self.scopes

    @property
    def label(self) -> str:
        return f"{self.person_name} ({self.partner_name})"
