"""The policy decision: may this actor, for this purpose, have these columns of this dataset?

`decide()` only reads governance state and returns a Decision, allowed or denied, with the
reason (agreement, version, clause) and, when allowed, the exact Grant: which columns, each
with its treatment, which rows, and which output controls. The data plane
(`civicshare.dataplane.query`) turns a Grant into DuckDB SQL; nothing else reads snapshots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.agreements.models import (
    AgreementVersion,
    Treatment,
)
from civicshare.audit.service import identifier_refusal, identifiers_in
from civicshare.dataplane.grant import (
    ColumnGrant,
    ConditionOp,
    Grant,
    RowCondition,
    Withheld,
    conditions_for,
)
from civicshare.partners import service as partners
from civicshare.partners.models import Partner, PartnerStatus, Role
from civicshare.rights import service as rights
from civicshare.sharing import governance

# Roles that may receive person-level data for their partner; viewers see governance only.
RECEIVING_ROLES = (Role.analyst, Role.responder, Role.ig_lead, Role.data_provider)
# The clause of a request refused because its purpose or note holds a resident's identifier:
# the request is malformed (422 over HTTP, exit 2 at the command line), not forbidden.
IDENTIFIER_IN_PURPOSE = "identifier in purpose"
# The same for an NHS number where a provider, dataset, agreement or column name should be.
IDENTIFIER_IN_NAMES = "identifier in request"
MALFORMED = (IDENTIFIER_IN_PURPOSE, IDENTIFIER_IN_NAMES)
# The clause of a request whose purpose is not one the agreement permits.
PURPOSE = "purpose"
# Subject access (UK GDPR Article 15) is a grant the law makes, not an agreement between
# partners (docs/decisions/0030-subject-access-grant.md): an IG lead or admin, with the token
# scope rights:write, may read every column of the records it names, and only those, of any
# active partner's dataset, to answer a resident's request. The receipt and audit record name
# this grant instead of an agreement.
SUBJECT_ACCESS = "subject-access"
SUBJECT_ACCESS_GRANT = "subject-access"
SUBJECT_ACCESS_SCOPE = "rights:write"
SUBJECT_ACCESS_ROLES = (Role.ig_lead, Role.admin)


@dataclass(frozen=True)
class ShareRequest:
    actor: Actor
    purpose: str  # the code of one of the agreement's permitted purposes
    provider: str  # partner key
    dataset: str
    columns: tuple[str, ...] | None = None  # None: every column the grant allows
    agreement: str | None = None  # a reference, needed when several agreements cover this
    group_by: tuple[str, ...] | None = None  # an aggregate (counts) instead of rows
    incident: str | None = None  # set by incidents/: emergency agreements apply only then
    note: str = ""  # the requester's own words about this request, kept in the audit log
    scope: str = ""  # the token scope a service's read needs (works:read); empty: share:read
    # Only these records (by the contract's record id): narrows any grant; subject access
    # must name them.
    records: tuple[str, ...] | None = None


def request_from_params(
    actor: Actor,
    *,
    purpose: str,
    provider: str,
    dataset: str,
    columns: str | None = None,
    agreement: str | None = None,
    group_by: str | None = None,
    note: str | None = None,
) -> ShareRequest:
    """A request from the comma-separated lists that the API's query and the CLI's options use."""

    def split(value: str | None) -> tuple[str, ...] | None:
        return tuple(v.strip() for v in value.split(",") if v.strip()) if value else None

    return ShareRequest(
        actor=actor,
        purpose=purpose,
        provider=provider,
        dataset=dataset,
        columns=split(columns),
        agreement=agreement,
        group_by=split(group_by),
        note=(note or "").strip(),
    )


def request_names(request: ShareRequest) -> list[str]:
    """The names a request gives (not its purpose): provider, dataset, agreement, columns."""
    return [
        request.provider,
        request.dataset,
        request.agreement or "",
        *(request.columns or ()),
        *(request.group_by or ()),
    ]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    clause: str  # which part of the rules or the agreement decided it
    request: ShareRequest
    grant: Grant | None = None
    agreement: str | None = None
    version: int | None = None
    decided_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def _deny(request: ShareRequest, clause: str, reason: str, version: AgreementVersion | None = None):
    return Decision(
        allowed=False,
        reason=reason,
        clause=clause,
        request=request,
        agreement=version.agreement.reference if version else None,
        version=version.number if version else None,
    )


def purpose_refusal(version: AgreementVersion, asked: str) -> str:
    """Why a purpose is refused, listing the purposes the version permits (codes and
    sentences) so the requester can name the right one."""
    reference = f"{version.agreement.reference} version {version.number}"
    listed = "; ".join(
        f"{p['code']} ({p['description'].rstrip('.')})" for p in version.purposes or []
    )
    if not listed:
        return f"{reference} lists no permitted purposes: nothing is shared under it."
    said = (
        "State the purpose of this request"
        if not asked.strip()
        else f"{asked.strip()[:60]!r} is not a purpose {reference} permits"
    )
    return f"{said}: name one of its permitted purposes: {listed}."


# -- governance state read once for several decisions ----------------------------------------


@contextmanager
def governance_read(session: Session) -> Iterator[None]:
    """Inside this block, decide() on `session` reads governance state once rather than once
    per call (for a view that decides several datasets at once, e.g. an incident's
    households). Each decision is still made in full and gives what decide() alone gives; a
    change this session makes is seen by the next decision, one committed elsewhere by the next
    block, so keep it to one request. Nested blocks share the outer one's state."""
    with governance.held(session):
        yield


def decide_many(
    session: Session, requests: Iterable[ShareRequest], today: date | None = None
) -> list[Decision]:
    """decide() for each request, in order, reading governance state once for them all."""
    with governance_read(session):
        return [decide(session, request, today) for request in requests]


def active_version(session: Session, reference: str, today: date | None = None):
    """The version of agreement `reference` in force today, as decide() reads it (kept between
    changes, see decide()), or None. Its parties, data items and purposes need no more reads."""
    today = today or date.today()
    if governance.cached():
        return governance.state_for(session).version_of(reference, today)
    return agreements.active_version(session, reference, today)


def is_party(session: Session, reference: str, partner_id: int) -> bool:
    """Whether the partner is named by any version of agreement `reference`, whatever its
    status (False when there is no such agreement), read as decide() reads governance state."""
    if governance.cached():
        parties = governance.state_for(session).parties_to.get(reference.strip().upper(), ())
        return partner_id in parties
    try:
        agreement = agreements.get(session, reference)
    except agreements.NotFound:
        return False
    return any(v.party(partner_id) for v in agreement.versions)


def _malformed_or_unentitled(request: ShareRequest) -> Decision | None:
    """A request refused before any agreement is looked at: an identifier where none belongs,
    a token without the scope, a membership without a receiving role."""
    actor = request.actor
    refusal = identifier_refusal("Purposes", request.purpose) or identifier_refusal(
        "Notes", request.note
    )
    if refusal:  # first: whoever asks, a purpose naming a resident is not recorded as given
        return _deny(
            request,
            IDENTIFIER_IN_PURPOSE,
            f"{refusal}: say why you need the data, not whose it is.",
        )
    if any("an NHS number" in identifiers_in(name) for name in request_names(request)):
        return _deny(
            request,
            IDENTIFIER_IN_NAMES,
            "Provider, dataset, agreement and column names must not contain identifiers such "
            "as an NHS number.",
        )
    # A token's scope: shared data, incident data (asked by incidents/ inside an incident), or
    # the scope of the service that reads (works/).
    needed = request.scope or ("incidents:read" if request.incident else "share:read")
    if not actor.has_scope(needed):
        return _deny(request, "token scope", f"This API token does not have the scope {needed}.")
    if not actor.has_role(*RECEIVING_ROLES):
        return _deny(
            request,
            "role",
            f"Acting for {actor.partner_name}, you hold no role that may receive shared data "
            "(analyst, responder, data provider or IG lead).",
        )
    return None


def _grant(
    session: Session,
    request: ShareRequest,
    version: AgreementVersion,
    provider: Partner,
    withheld: tuple[Withheld, ...] = (),
) -> Decision:
    """Under the one covering version: the columns asked for, if it includes them all, with
    its row scope and row conditions on this dataset, less the rows of people who objected to
    the purpose or opted out (`withheld`)."""
    actor = request.actor
    granted = {
        item.column: ColumnGrant(item.column, item.treatment, item.generalisation)
        for item in version.data_items
        if item.provider_partner_id == provider.id
        and item.dataset == request.dataset
        and item.treatment != Treatment.excluded
    }
    asked = request.columns if request.columns is not None else tuple(granted)
    refused = [column for column in asked if column not in granted]
    if refused:
        return _deny(
            request,
            "data items",
            f"{version.agreement.reference} version {version.number} does not include "
            f"{', '.join(refused)} from {request.dataset}.",
            version,
        )
    if request.group_by is not None:
        outside = [c for c in request.group_by if c not in asked]
        if outside:
            return _deny(
                request,
                "aggregate",
                f"Group by only requested columns, not {', '.join(outside)}.",
                version,
            )
    grant = Grant(
        agreement=version.agreement.reference,
        version=version.number,
        provider=provider.key,
        recipient=actor.partner_key,
        dataset=request.dataset,
        columns=tuple(granted[column] for column in asked),
        row_scope=governance.thawed(version.row_scope or {}),
        aggregate_by=request.group_by,
        conditions=conditions_for(version.row_scope, provider.key, request.dataset)
        + _records_condition(session, request),
        withheld=withheld,
    )
    return Decision(
        allowed=True,
        reason=f"Allowed under {grant.agreement} version {grant.version}.",
        clause="data items",
        request=request,
        grant=grant,
        agreement=grant.agreement,
        version=grant.version,
    )


def decide(session: Session, request: ShareRequest, today: date | None = None) -> Decision:
    """Allowed with the exact grant, or denied with the reason. Reads governance state only:
    kept between changes (sharing.governance), unless its KEPT size is 0, when every call
    reads partners and agreements through their domains as the reference."""
    actor = request.actor
    if request.purpose.strip() == SUBJECT_ACCESS:
        return _subject_access(session, request)
    refused = _malformed_or_unentitled(request)
    if refused is not None:
        return refused
    today = today or date.today()
    state = governance.state_for(session) if governance.cached() else None

    def partner_by_key(key: str) -> Partner | None:
        return state.partner(key) if state is not None else partners.get_by_key(session, key)

    provider = partner_by_key(request.provider)
    if provider is None:
        return _deny(request, "provider", f"There is no partner {request.provider!r}.")
    for partner, who in (
        (provider, "provider"),
        (partner_by_key(actor.partner_key), "recipient"),
    ):
        if partner.status in (PartnerStatus.suspended, PartnerStatus.left):
            return _deny(
                request,
                "partner status",
                f"{partner.name}, the {who}, is {partner.status.value}: nothing is shared.",
            )

    covering = (
        state.covering(provider.id, request.dataset, actor.partner_id, today)
        if state is not None
        else agreements.active_covering(
            session, provider.id, request.dataset, actor.partner_id, today
        )
    )
    # An emergency agreement lets data flow only inside an incident, to its responders.
    covering = [
        v
        for v in covering
        if not v.emergency or (request.incident and actor.has_role(Role.responder))
    ]
    if request.agreement:
        covering = [v for v in covering if v.agreement.reference == request.agreement]
    if not covering:
        named = f" {request.agreement}" if request.agreement else ""
        return _deny(
            request,
            "no active agreement",
            f"No active agreement{named} lets {provider.name} share {request.dataset} "
            f"with {actor.partner_name} today.",
        )
    if len(covering) > 1:
        references = ", ".join(v.agreement.reference for v in covering)
        return _deny(
            request,
            "ambiguous",
            f"Several active agreements cover this ({references}): name the one you act under.",
        )
    version = covering[0]
    if request.purpose.strip() not in version.purpose_codes():
        return _deny(request, PURPOSE, purpose_refusal(version, request.purpose), version)
    # Residents' objections and the national data opt-out: whose rows stay behind.
    purpose = request.purpose.strip()
    withheld = rights.withheld_for(
        session,
        version,
        provider,
        request.dataset,
        purpose,
        state.refusals if state is not None else None,
    )
    return _grant(session, request, version, provider, withheld)


# -- subject access: the statutory grant ------------------------------------------------------


def _records_condition(session: Session, request: ShareRequest) -> tuple[RowCondition, ...]:
    """The request's own narrowing to named records: a condition on the contract's record id."""
    if request.records is None:
        return ()
    from civicshare.datasets import service as datasets

    dataset = datasets.get_dataset(session, request.provider, request.dataset)
    contract = datasets.current_contract(session, dataset) if dataset else None
    if contract is None or not contract.record_id:
        return (RowCondition("_no_record_id", ConditionOp.is_null),)  # cannot execute: refused
    return (RowCondition(contract.record_id, ConditionOp.one_of, tuple(request.records)),)


def _subject_access(session: Session, request: ShareRequest) -> Decision:
    """Every column of the named records, identifiable, for an IG lead answering a subject
    access request: no agreement is looked at, since the law, not an agreement, requires it."""
    from civicshare.datasets import service as datasets

    actor = request.actor
    refusal = identifier_refusal("Notes", request.note)
    if refusal or any("an NHS number" in identifiers_in(n) for n in request_names(request)):
        return _deny(
            request,
            IDENTIFIER_IN_NAMES,
            "Names and notes of a subject access read must not contain identifiers.",
        )
    if not actor.has_scope(SUBJECT_ACCESS_SCOPE):
        return _deny(
            request,
            "token scope",
            f"This API token does not have the scope {SUBJECT_ACCESS_SCOPE}.",
        )
    if not actor.has_role(*SUBJECT_ACCESS_ROLES):
        return _deny(request, "role", "Only an IG lead or admin may read for subject access.")
    if not request.records:
        return _deny(
            request, "records", "A subject access read names the records of the person who asked."
        )
    provider = partners.get_by_key(session, request.provider)
    dataset = datasets.get_dataset(session, request.provider, request.dataset) if provider else None
    contract = datasets.current_contract(session, dataset) if dataset else None
    if contract is None or not contract.record_id:
        return _deny(
            request,
            "records",
            f"{request.provider}/{request.dataset} has no contract naming its record id.",
        )
    asked = request.columns or tuple(c.name for c in contract.columns)
    known = {c.name for c in contract.columns}
    unknown = [c for c in asked if c not in known]
    if unknown:
        return _deny(request, "data items", f"{request.dataset} has no {', '.join(unknown)}.")
    grant = Grant(
        agreement=SUBJECT_ACCESS_GRANT,
        version=1,
        provider=provider.key,
        recipient=actor.partner_key,
        dataset=request.dataset,
        columns=tuple(ColumnGrant(c, Treatment.identifiable) for c in asked),
        conditions=_records_condition(session, request),
    )
    return Decision(
        allowed=True,
        reason="Allowed for subject access (UK GDPR Article 15): the named records only.",
        clause="subject access",
        request=request,
        grant=grant,
        agreement=SUBJECT_ACCESS_GRANT,
        version=1,
    )
