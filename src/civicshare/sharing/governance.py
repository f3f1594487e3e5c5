"""The governance state decide() reads (every partner, the active agreement versions with their
parties and data items, residents' objections and opt-outs), as plain frozen values kept per
process against the store's "governance" change stamp (migration 0026, docs/decisions/0041).

Only the read is kept: decide() still makes every decision afresh from it (the date each
version is in force, the actor's roles and scopes, the purpose, the columns asked for). Any
write to the tables behind the stamp replaces its token in the same transaction, so the next
read of the token misses and the state is read again, in this process or any other.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from civicshare import db
from civicshare.agreements import service as agreements
from civicshare.agreements.models import (
    Agreement,
    AgreementDataItem,
    AgreementParty,
    AgreementVersion,
    Generalisation,
    PartyRole,
    Treatment,
)
from civicshare.agreements.models import Status as AgreementStatus
from civicshare.partners.models import Partner, PartnerStatus, PartnerType
from civicshare.rights import service as rights

STAMP = "governance"

# -- the state, as plain values (the attributes decide() and agreements.covers() read) --------


@dataclass(frozen=True)
class PartnerState:
    id: int
    key: str
    name: str
    type: PartnerType
    status: PartnerStatus


@dataclass(frozen=True)
class AgreementState:
    reference: str


@dataclass(frozen=True)
class PartyState:
    partner_id: int
    role: PartyRole


@dataclass(frozen=True)
class ItemState:
    provider_partner_id: int
    provider_key: str
    dataset: str
    column: str
    treatment: Treatment
    generalisation: Generalisation | None


@dataclass(frozen=True)
class VersionState:
    """An active agreement version as decide() reads it; the same attribute names as
    AgreementVersion, so `agreements.covers()` and `agreements.in_force()` take either."""

    id: int
    agreement: AgreementState
    number: int
    status: AgreementStatus
    emergency: bool
    start_date: date | None
    end_date: date | None
    review_date: date | None
    purposes: tuple[Mapping[str, str], ...]
    row_scope: Mapping[str, Any]
    parties: tuple[PartyState, ...]
    data_items: tuple[ItemState, ...]

    @property
    def reference(self) -> str:
        return self.agreement.reference

    def party(self, partner_id: int) -> PartyState | None:
        return next((p for p in self.parties if p.partner_id == partner_id), None)

    @property
    def shared_items(self) -> tuple[ItemState, ...]:
        return tuple(i for i in self.data_items if i.treatment != Treatment.excluded)

    def purpose_codes(self) -> list[str]:
        return [p["code"] for p in self.purposes]


@dataclass(frozen=True)
class GovernanceState:
    partners: Mapping[str, PartnerState]  # by key
    versions: tuple[VersionState, ...]  # status active, by agreement reference
    refusals: rights.Refusals  # residents' objections and opt-outs, as recorded
    # Every partner named by any version (whatever its status) of each agreement, by reference.
    parties_to: Mapping[str, frozenset[int]]

    def partner(self, key: str) -> PartnerState | None:
        return self.partners.get(key)

    def in_force(self, today: date) -> list[VersionState]:
        """What `agreements.active_versions(session, today)` returns, from this state."""
        return [v for v in self.versions if agreements.in_force(v, today)]

    def covering(
        self, provider_id: int, dataset: str, recipient_id: int, today: date
    ) -> list[VersionState]:
        """What `agreements.active_covering()` returns, from this state."""
        return [
            version
            for version in self.in_force(today)
            if agreements.covers(version, provider_id, dataset, recipient_id)
        ]

    def version_of(self, reference: str, today: date) -> VersionState | None:
        """What `agreements.active_version(session, reference, today)` returns, from this state."""
        reference = reference.strip().upper()
        return next((v for v in self.in_force(today) if v.reference == reference), None)


def _frozen(value: Any) -> Any:
    """A deep copy of JSON read from the store that no caller can change in place."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """`_frozen` undone: plain dicts and lists again, for a Grant (as the store holds them)."""
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed(v) for v in value]
    return copy.copy(value)


def read_state(session: Session) -> GovernanceState:
    """The state as the store holds it now, in seven queries. Columns, not ORM objects: an
    object this session loaded earlier in its transaction keeps the values it had then, and
    what is read here may be kept for other sessions."""
    partners = {
        row.key: PartnerState(row.id, row.key, row.name, row.type, row.status)
        for row in session.execute(
            select(Partner.id, Partner.key, Partner.name, Partner.type, Partner.status)
        )
    }
    by_id = {p.id: p for p in partners.values()}
    rows = session.execute(
        select(
            AgreementVersion.id,
            Agreement.reference,
            AgreementVersion.number,
            AgreementVersion.status,
            AgreementVersion.emergency,
            AgreementVersion.start_date,
            AgreementVersion.end_date,
            AgreementVersion.review_date,
            AgreementVersion.purposes,
            AgreementVersion.row_scope,
        )
        .join(Agreement, Agreement.id == AgreementVersion.agreement_id)
        .where(AgreementVersion.status == AgreementStatus.active)
        .order_by(Agreement.reference, AgreementVersion.number)
    ).all()
    ids = [row.id for row in rows]
    parties: dict[int, list[PartyState]] = {i: [] for i in ids}
    for row in session.execute(
        select(AgreementParty.version_id, AgreementParty.partner_id, AgreementParty.role)
        .where(AgreementParty.version_id.in_(ids))
        .order_by(AgreementParty.id)
    ):
        parties[row.version_id].append(PartyState(row.partner_id, row.role))
    items: dict[int, list[ItemState]] = {i: [] for i in ids}
    for row in session.execute(
        select(
            AgreementDataItem.version_id,
            AgreementDataItem.provider_partner_id,
            AgreementDataItem.dataset,
            AgreementDataItem.column,
            AgreementDataItem.treatment,
            AgreementDataItem.generalisation,
        )
        .where(AgreementDataItem.version_id.in_(ids))
        .order_by(AgreementDataItem.id)
    ):
        provider = by_id.get(row.provider_partner_id)
        items[row.version_id].append(
            ItemState(
                row.provider_partner_id,
                provider.key if provider else "",
                row.dataset,
                row.column,
                row.treatment,
                row.generalisation,
            )
        )
    versions = tuple(
        VersionState(
            id=row.id,
            agreement=AgreementState(row.reference),
            number=row.number,
            status=row.status,
            emergency=row.emergency,
            start_date=row.start_date,
            end_date=row.end_date,
            review_date=row.review_date,
            purposes=_frozen(list(row.purposes or [])),
            row_scope=_frozen(dict(row.row_scope or {})),
            parties=tuple(parties[row.id]),
            data_items=tuple(items[row.id]),
        )
        for row in rows
    )
    parties_to: dict[str, set[int]] = {}
    for reference, partner_id in session.execute(
        select(Agreement.reference, AgreementParty.partner_id)
        .join(AgreementVersion, AgreementVersion.agreement_id == Agreement.id)
        .join(AgreementParty, AgreementParty.version_id == AgreementVersion.id)
    ):
        parties_to.setdefault(reference, set()).add(partner_id)
    return GovernanceState(
        MappingProxyType(partners),
        versions,
        rights.refusals(session),
        MappingProxyType({k: frozenset(v) for k, v in parties_to.items()}),
    )


# -- kept per process against the change stamp ------------------------------------------------

# States kept per process, by store and token; size 0 keeps none (every decide() reads the
# store, through the partners and agreements domains: sharing.service.decide()).
KEPT = db.Kept(STAMP, 8)


def cached() -> bool:
    return KEPT.size > 0


def current_state(session: Session) -> GovernanceState:
    """The state as `session` sees it: one query (the token) when this process read it under
    the same token, else read afresh (db.Kept). A session's own writes (flushed by the token's
    query) replace the token, so it sees them at once."""
    return KEPT.get(session, lambda: read_state(session))


def clear() -> None:
    KEPT.clear()


# -- held for a block of decisions on one session ---------------------------------------------

_HELD = "sharing.governance"


class _Held:
    """The state one `held()` block decides from. Read again after the session flushes (its
    own change may be behind the stamp) or its transaction ends."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.stale = True
        self.state: GovernanceState | None = None
        self.transaction = None

    def current(self) -> GovernanceState:
        session = self.session
        # Pending changes: the token's query flushes them (as any query would), and a change
        # behind the stamp replaces the token.
        pending = session.new or session.deleted or session.dirty
        if pending or self.stale or session.get_transaction() is not self.transaction:
            self.state = current_state(session)
            self.transaction = session.get_transaction()
            self.stale = False
        return self.state


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context) -> None:
    held = session.info.get(_HELD)
    if held is not None:
        held.stale = True


@contextmanager
def held(session: Session) -> Iterator[None]:
    """Inside this block, decisions on `session` read the state once rather than the token
    each (nested blocks share the outer one's). A change this session makes is seen by the
    next decision; keep the block to one request, as a change committed elsewhere is seen by
    the next block."""
    if _HELD in session.info:
        yield
        return
    session.info[_HELD] = _Held(session)
    try:
        yield
    finally:
        session.info.pop(_HELD, None)


def state_for(session: Session) -> GovernanceState:
    """The state a decision on `session` reads now: the block's, or the current one."""
    block: _Held | None = session.info.get(_HELD)
    return block.current() if block is not None else current_state(session)
