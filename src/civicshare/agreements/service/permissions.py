"""Who may edit, amend and take each lifecycle step."""

from __future__ import annotations

from datetime import date

from civicshare.accounts.service import Actor
from civicshare.agreements.models import AgreementVersion
from civicshare.agreements.service.errors import NotAllowed
from civicshare.agreements.service.transitions import AMENDABLE, TRANSITIONS, S, Transition
from civicshare.partners.models import Role


def is_party_ig_lead(actor: Actor, version: AgreementVersion) -> bool:
    return actor.has_role(Role.ig_lead) and version.party(actor.partner_id) is not None


def may_edit(actor: Actor, version: AgreementVersion) -> bool:
    return (
        version.status == S.draft
        and actor.has_role(Role.ig_lead)
        and (
            actor.partner_id == version.agreement.drafted_by_partner_id
            or version.party(actor.partner_id) is not None
        )
    )


def who_ok(actor: Actor | None, version: AgreementVersion, who: str) -> bool:
    if who == "system":
        return actor is None
    if actor is None:
        return True  # an operator at the server's command line
    if who == "editor":
        return may_edit(actor, version) or (
            version.status != S.draft
            and actor.has_role(Role.ig_lead)
            and actor.partner_id == version.agreement.drafted_by_partner_id
        )
    if who == "party_ig_lead":
        return is_party_ig_lead(actor, version)
    if who == "ig_group":
        return actor.has_role(Role.ig_lead)
    raise ValueError(who)


def refuse_who(actor: Actor, version: AgreementVersion, transition: Transition) -> NotAllowed:
    if not actor.has_role(Role.ig_lead):
        return NotAllowed(
            f"Acting for {actor.partner_name}, you are not an IG lead; only IG leads can "
            f"{transition.action} agreements."
        )
    if transition.who == "party_ig_lead":
        return NotAllowed(
            f"{actor.partner_name} is not a party to {version.reference}; only the IG lead of a "
            f"party can {transition.action} it."
        )
    return NotAllowed(
        f"Only the IG lead of the drafting partner or of a party can {transition.action} "
        f"{version.reference}."
    )


def allowed_actions(
    actor: Actor, version: AgreementVersion, today: date | None = None
) -> list[Transition]:
    """The steps this actor may take on this version now (for buttons)."""
    today = today or date.today()
    allowed = []
    for transition in TRANSITIONS.values():
        if transition.who == "system" or version.status not in transition.from_states:
            continue
        if not who_ok(actor, version, transition.who):
            continue
        if transition.action in ("approve", "reject") and (
            actor.partner_id in version.current_approvals()
        ):
            continue
        if transition.action == "activate" and version.start_date and version.start_date > today:
            continue
        allowed.append(transition)
    return allowed


def may_amend(actor: Actor, version: AgreementVersion) -> bool:
    agreement = version.agreement
    return (
        version is agreement.versions[-1]
        and version.status in AMENDABLE
        and is_party_ig_lead(actor, version)
    )
