"""Who may edit, amend and take each lifecycle step."""

from __future__ import annotations

from datetime import date

from civicshare.accounts.service import Actor
from civicshare.agreements.models import AgreementVersion, Decision
from civicshare.agreements.service.errors import NotAllowed, SeparationOfDuties
from civicshare.agreements.service.transitions import AMENDABLE, TRANSITIONS, S, Transition
from civicshare.partners.models import Role

# The separation_of_duties setting (config.py).
FOUR_EYES = "four-eyes"
RELAXED = "relaxed"


def separation_rule(separation: str | None) -> str:
    """The rule in force: the one given (an adapter passes its app's setting), else the
    settings' (the environment or civicshare.toml)."""
    if separation is not None:
        return separation
    from civicshare.config import get_settings

    return get_settings().separation_of_duties


def duty_refusal(
    actor: Actor | None, version: AgreementVersion, action: str, separation: str | None = None
) -> SeparationOfDuties | None:
    """Why separation of duties refuses this actor this step, or None. Under four-eyes the IG
    group's endorsement is recorded by a member of the IG group who neither drafted, submitted
    nor approved the version (compared person by person: one person's two memberships are one
    pair of eyes)."""
    if action != "endorse" or separation_rule(separation) == RELAXED:
        return None
    named = f"{version.reference} version {version.number}"
    if actor is None:
        return SeparationOfDuties(
            f"The IG group's endorsement of {named} is recorded by a member of the IG group "
            "signed in as themselves, not from the server's command line "
            '(separation_of_duties = "four-eyes").'
        )
    acts = []
    if version.drafter is not None and version.drafter.person_id == actor.person_id:
        acts.append("drafted")
    if version.submitter is not None and version.submitter.person_id == actor.person_id:
        acts.append("submitted")
    approved_for = [
        approval.partner.name
        for approval in version.current_approvals().values()
        if approval.decision == Decision.approve
        and approval.membership.person_id == actor.person_id
    ]
    if not acts and not approved_for:
        return None
    took = [f"{' and '.join(acts)} {named}"] if acts else []
    if approved_for:
        took.append(f"approved {'it' if acts else named} for {' and '.join(approved_for)}")
    return SeparationOfDuties(
        f"{actor.person_name}, you {' and '.join(took)}, so you cannot also record the IG "
        "group's endorsement: another member of the IG group, an IG lead who neither drafted, "
        'submitted nor approved this version, records it (separation_of_duties = "four-eyes").'
    )


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
            f"party can {transition.action} it, and only for their own organisation.",
            field="partner",
        )
    return NotAllowed(
        f"Only the IG lead of the drafting partner or of a party can {transition.action} "
        f"{version.reference}."
    )


def allowed_actions(
    actor: Actor,
    version: AgreementVersion,
    today: date | None = None,
    separation: str | None = None,
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
        if duty_refusal(actor, version, transition.action, separation) is not None:
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
