"""Reading agreements: what an actor may see, the version in force, what covers a share."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from civicshare.accounts.service import Actor
from civicshare.agreements.models import Agreement, AgreementVersion, Status
from civicshare.agreements.service.errors import NotFound
from civicshare.agreements.service.transitions import ENTITY, LIVE, PENDING, S
from civicshare.audit import service as audit
from civicshare.partners.models import Role


def get(session: Session, reference: str) -> Agreement:
    agreement = session.scalars(
        select(Agreement).where(Agreement.reference == reference.strip().upper())
    ).one_or_none()
    if agreement is None:
        raise NotFound(f"There is no agreement {reference}.")
    return agreement


def version_of(agreement: Agreement, number: int) -> AgreementVersion:
    for version in agreement.versions:
        if version.number == number:
            return version
    raise NotFound(f"{agreement.reference} has no version {number}.")


def headline(agreement: Agreement) -> AgreementVersion:
    """The version that says what the agreement is now: the one in force if any, else the
    newest that is not a withdrawn draft, else the newest."""
    for version in reversed(agreement.versions):
        if version.status in LIVE:
            return version
    for version in reversed(agreement.versions):
        if version.status != S.withdrawn:
            return version
    return agreement.versions[-1]


def pending_amendment(agreement: Agreement) -> AgreementVersion | None:
    """A newer version in preparation, while an older one is in force."""
    live = headline(agreement)
    latest = agreement.versions[-1]
    return latest if latest is not live and latest.status in PENDING else None


def _party_ids(agreement: Agreement) -> set[int]:
    return {p.partner_id for v in agreement.versions for p in v.parties}


def may_view(actor: Actor, agreement: Agreement) -> bool:
    """Parties and the drafting partner see their agreements; IG leads, who sit on the IG group,
    see every agreement once it has been submitted. Only the acting membership counts."""
    if actor.partner_id == agreement.drafted_by_partner_id or actor.partner_id in _party_ids(
        agreement
    ):
        return True
    submitted = any(v.submission_round > 0 for v in agreement.versions)
    return submitted and actor.has_role(Role.ig_lead)


def may_view_version(actor: Actor, version: AgreementVersion) -> bool:
    if not may_view(actor, version.agreement):
        return False
    mine = actor.partner_id == version.agreement.drafted_by_partner_id or version.party(
        actor.partner_id
    )
    # The IG group sees versions that reached it, not other partners' drafts.
    return bool(mine) or version.submission_round > 0


def get_for(session: Session, actor: Actor, reference: str) -> Agreement:
    agreement = get(session, reference)
    if not may_view(actor, agreement):
        # Not 403: whether an agreement exists is itself not for everyone.
        raise NotFound(f"There is no agreement {reference} that {actor.partner_name} can see.")
    return agreement


def version_for(session: Session, actor: Actor, reference: str, number: int) -> AgreementVersion:
    version = version_of(get_for(session, actor, reference), number)
    if not may_view_version(actor, version):
        raise NotFound(f"{reference} has no version {number} that {actor.partner_name} can see.")
    return version


def list_for(
    session: Session, actor: Actor, status: Status | str | None = None
) -> list[tuple[Agreement, AgreementVersion]]:
    agreements = session.scalars(
        select(Agreement)
        .options(selectinload(Agreement.versions).selectinload(AgreementVersion.parties))
        .order_by(Agreement.reference)
    ).all()
    rows = []
    for agreement in agreements:
        if not may_view(actor, agreement):
            continue
        shown = headline(agreement)
        if not may_view_version(actor, shown):
            continue
        if status and shown.status != Status(status):
            continue
        rows.append((agreement, shown))
    return rows


def list_all(session: Session, status: Status | str | None = None) -> list[AgreementVersion]:
    """Every agreement's headline version (for operators at the command line)."""
    shown = [headline(a) for a in session.scalars(select(Agreement).order_by(Agreement.reference))]
    return [v for v in shown if status is None or v.status == Status(status)]


def active_version(
    session: Session, agreement: Agreement | str, today: date | None = None
) -> AgreementVersion | None:
    """The version of an agreement in force today, or None. `decide()` asks this."""
    today = today or date.today()
    if isinstance(agreement, str):
        agreement = get(session, agreement)
    for version in agreement.versions:
        if version.status == S.active and in_force(version, today):
            return version
    return None


def in_force(version: AgreementVersion, today: date) -> bool:
    return (
        (version.start_date is None or version.start_date <= today)
        and (version.end_date is None or today <= version.end_date)
        and (version.review_date is None or today <= version.review_date)
    )


def active_versions(session: Session, today: date | None = None) -> list[AgreementVersion]:
    today = today or date.today()
    versions = session.scalars(
        select(AgreementVersion)
        .join(Agreement)
        .where(AgreementVersion.status == S.active)
        .order_by(Agreement.reference)
    ).all()
    return [v for v in versions if in_force(v, today)]


def active_covering(
    session: Session,
    provider_partner_id: int,
    dataset: str,
    recipient_partner_id: int,
    today: date | None = None,
) -> list[AgreementVersion]:
    """Active versions under which `provider` may share columns of `dataset` with `recipient`.
    The caller reads the grant (items, treatments, row scope) from each version."""
    return [
        version
        for version in active_versions(session, today)
        if covers(version, provider_partner_id, dataset, recipient_partner_id)
    ]


def covers(
    version: AgreementVersion, provider_partner_id: int, dataset: str, recipient_partner_id: int
) -> bool:
    """Whether this version names `provider` as providing and `recipient` as receiving, and
    shares an item of `dataset` from that provider."""
    provider = version.party(provider_partner_id)
    recipient = version.party(recipient_partner_id)
    if not (provider and provider.role.provides and recipient and recipient.role.receives):
        return False
    return any(
        item.provider_partner_id == provider_partner_id and item.dataset == dataset
        for item in version.shared_items
    )


def review_due(
    session: Session, today: date | None = None, within_days: int = 90
) -> list[AgreementVersion]:
    """Versions in force (or suspended) whose review date falls within `within_days` or has
    passed, soonest first."""
    today = today or date.today()
    horizon = today + timedelta(days=within_days)
    versions = session.scalars(
        select(AgreementVersion).where(
            AgreementVersion.status.in_(list(LIVE)),
            AgreementVersion.review_date.is_not(None),
            AgreementVersion.review_date <= horizon,
        )
    ).all()
    return sorted(versions, key=lambda v: (v.review_date, v.agreement.reference))


def history(session: Session, agreement: Agreement):
    return audit.history(session, ENTITY, agreement.reference)
