"""Works co-ordination through the gateway.

Reading: a partner sees the works programme its agreements allow. Every works dataset (and the
sensor network's traffic counts) named by an active agreement whose permitted purposes include
`works-coordination`, and to which the acting partner is a recipient, is read through the one
choke point (`sharing.delivery.share`: decide, audit, execute, receipt); a dataset the decision
refuses is listed as withheld with its reason. The engine then co-ordinates what was read.

Publishing: a promoter's programme is its works dataset. Publishing checks the file with the
works reader (errors by row and field), requires an active works agreement naming the promoter
as provider of that dataset, and pushes the valid rows as the dataset's next snapshot (audited
by the push). Clashes not seen before are then notified to both promoters, once.

The public roadworks map reads the same way, as the gateway's own service membership of the
street authority (`works_public_partner`), so revoking the agreement empties it too.
"""

from __future__ import annotations

import csv
import io
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.audit import service as audit
from civicshare.config import Settings
from civicshare.core.errors import DomainError
from civicshare.partners import service as partners
from civicshare.partners.models import Role
from civicshare.sharing import delivery
from civicshare.sharing.service import ShareRequest
from civicshare.works import engine, files
from civicshare.works.models import (
    SEVERITIES,
    TRAFFIC_COUNT_FIELDS,
    WORKS_FIELDS,
    Clash,
    ClashNotice,
    Coordination,
    RowError,
    TrafficCounts,
    Work,
)

PURPOSE = "works-coordination"
WORKS_COLUMNS = frozenset({"work_reference_number", "works_location_wkt"})  # a works dataset
COUNT_COLUMNS = frozenset(TRAFFIC_COUNT_FIELDS)
PUBLIC_EMAIL = "public-roadworks-map@civicshare.invalid"
PUBLIC_NAME = "Public roadworks map (the gateway)"
PUBLIC_CACHE_SECONDS = 300


class WorksError(DomainError):
    """A works request the gateway refuses, in words the promoter or planner can act on."""


@dataclass(frozen=True)
class Source:
    """A works dataset (or the traffic counts) an agreement lets the acting partner read."""

    agreement: str
    provider: str  # partner key
    provider_name: str
    dataset: str
    kind: str  # "works" or "traffic"


@dataclass(frozen=True)
class Withheld:
    provider: str
    dataset: str
    reason: str


@dataclass
class Programme:
    """The works the acting partner may see, co-ordinated; where each came from."""

    coordination: Coordination
    promoter_of: dict[str, str]  # work reference -> provider partner key
    provider_names: dict[str, str]
    sources: list[Source]
    withheld: list[Withheld] = field(default_factory=list)
    unreadable: list[RowError] = field(default_factory=list)  # stored rows the engine refused

    @property
    def works(self) -> tuple[Work, ...]:
        return self.coordination.works

    def promoter_name(self, reference: str) -> str:
        key = self.promoter_of.get(reference, "")
        return self.provider_names.get(key, key)

    @cached_property
    def worst_clash(self) -> dict[str, str]:
        """Each clashing work's most severe clash (high, medium, low), by reference."""
        worst: dict[str, str] = {}
        for clash in self.coordination.clashes:
            for reference in clash.pair:
                held = worst.get(reference)
                if held is None or SEVERITIES.index(clash.severity) < SEVERITIES.index(held):
                    worst[reference] = clash.severity
        return worst

    def on_street(self, usrn: int) -> list[Work]:
        found = [w for w in self.works if w.usrn == usrn]
        return sorted(found, key=lambda w: (w.proposed_start_date, w.work_reference_number))


# -- what an actor may read -------------------------------------------------------------------


def sources_for(session: Session, actor: Actor, today: date | None = None) -> list[Source]:
    """Every works dataset and traffic count an active works agreement shares with the actor's
    partner, once each (the first agreement by reference when several cover it)."""
    found: dict[tuple[str, str], Source] = {}
    for version in agreements.active_versions(session, today):
        if PURPOSE not in version.purpose_codes():
            continue
        party = version.party(actor.partner_id)
        if party is None or not party.role.receives:
            continue
        columns: dict[tuple, set[str]] = defaultdict(set)
        names = {}
        for item in version.shared_items:
            columns[(item.provider.key, item.dataset)].add(item.column)
            names[item.provider.key] = item.provider.name
        for (provider, dataset), granted in sorted(columns.items()):
            if granted >= WORKS_COLUMNS:
                kind = "works"
            elif granted >= COUNT_COLUMNS:
                kind = "traffic"
            else:
                continue
            found.setdefault(
                (provider, dataset),
                Source(version.reference, provider, names[provider], dataset, kind),
            )
    return list(found.values())


def _read(session, settings, actor, source: Source, via: str, today):
    request = ShareRequest(
        actor=actor,
        purpose=PURPOSE,
        provider=source.provider,
        dataset=source.dataset,
        agreement=source.agreement,
        note="works co-ordination" if via != "public" else "public roadworks map",
        scope="works:read",
    )
    return delivery.share(session, settings, request, via=via, today=today).table


def programme(
    session: Session,
    settings: Settings,
    actor: Actor,
    *,
    via: str = "web",
    today: date | None = None,
    tolerance_m: float | None = None,
) -> Programme:
    """Read every works dataset the actor's agreements allow (each read decided, audited and
    receipted) and co-ordinate them."""
    sources = sources_for(session, actor, today)
    works: list[Work] = []
    promoter_of: dict[str, str] = {}
    withheld: list[Withheld] = []
    unreadable: list[RowError] = []
    traffic: TrafficCounts | None = None
    for source in sources:
        try:
            table = _read(session, settings, actor, source, via, today)
        except delivery.Denied as denied:
            withheld.append(Withheld(source.provider, source.dataset, str(denied)))
            continue
        label = f"{source.provider}/{source.dataset} row"
        if source.kind == "traffic":
            traffic = files.traffic_counts_from_rows(table, label=label)
            unreadable.extend(traffic.errors)
            continue
        read = files.works_from_rows(table, label=label)
        unreadable.extend(read.errors)
        for work in read.works:
            if work.work_reference_number in promoter_of:  # a reference two promoters use
                unreadable.append(
                    RowError(
                        label,
                        "work_reference_number",
                        f"{work.work_reference_number} is also published by "
                        f"{promoter_of[work.work_reference_number]}",
                    )
                )
                continue
            promoter_of[work.work_reference_number] = source.provider
            works.append(work)
    coordination = engine.coordinate(
        works,
        tolerance_m=settings.works_tolerance_m if tolerance_m is None else tolerance_m,
        traffic=traffic,
    )
    names = {s.provider: s.provider_name for s in sources}
    return Programme(coordination, promoter_of, names, sources, withheld, unreadable)


# -- publishing a programme -------------------------------------------------------------------


@dataclass
class Published:
    dataset: str
    outcome: str  # the push's outcome: "accepted" or "rejected"
    snapshot_version: int | None
    accepted: int
    errors: list[RowError]
    new_clashes: list[Clash]


def works_dataset_of(session: Session, actor: Actor, dataset: str | None = None) -> str:
    """The works dataset the actor's partner publishes under an active works agreement."""
    own = []
    for version in agreements.active_versions(session):
        party = version.party(actor.partner_id)
        if PURPOSE not in version.purpose_codes() or party is None or not party.role.provides:
            continue
        columns: dict[str, set[str]] = defaultdict(set)
        for item in version.shared_items:
            if item.provider_partner_id == actor.partner_id:
                columns[item.dataset].add(item.column)
        own += [name for name, granted in columns.items() if granted >= WORKS_COLUMNS]
    own = sorted(set(own))
    if dataset is not None:
        if dataset not in own:
            raise WorksError(
                f"{actor.partner_name} has no active works agreement that shares {dataset}: "
                "publishing is refused.",
                field="dataset",
                status=403,
            )
        return dataset
    if not own:
        raise WorksError(
            f"{actor.partner_name} is not a provider of works under any active agreement with "
            f"the purpose {PURPOSE}: publishing is refused.",
            field="dataset",
            status=403,
        )
    if len(own) > 1:
        raise WorksError(
            f"{actor.partner_name} publishes several works datasets ({', '.join(own)}): name one.",
            field="dataset",
        )
    return own[0]


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def published_csv(works: list[Work]) -> bytes:
    """The works in the shared format, as the dataset's next snapshot is pushed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(WORKS_FIELDS)
    for work in works:
        row = {
            **{name: getattr(work, name, None) for name in WORKS_FIELDS},
            "works_location_wkt": work.location.wkt,
            "diversion_route_wkt": work.diversion_route.wkt if work.diversion_route else None,
        }
        writer.writerow([_csv_value(row[name]) for name in WORKS_FIELDS])
    return out.getvalue().encode()


def publish(
    session: Session,
    settings: Settings,
    actor: Actor,
    path: Path,
    *,
    dataset: str | None = None,
    file_name: str | None = None,
    via: str = "web",
) -> Published:
    """Publish a promoter's programme from a CSV or GeoJSON file: its valid works become the
    works dataset's next snapshot; rows in error are reported by row and field and left out. A
    file with no valid rows changes nothing."""
    from civicshare.datasets import service as datasets

    if not datasets.may_push(actor, actor.partner_key):
        raise WorksError(
            "Only a data provider or admin of the promoter can publish its works.",
            field="file",
            status=403,
        )
    name = works_dataset_of(session, actor, dataset)
    read = files.read_works(path)  # raises WorksFileError on an unreadable file
    if not read.works:
        audit.record(
            session,
            actor,
            "works.publish_refused",
            "dataset",
            f"{actor.partner_key}/{name}",
            reason="no valid rows",
            details={"errors": len(read.errors), "rows": read.rows},
            outcome="denied",
        )
        session.commit()
        raise WorksError(
            f"{file_name or path.name} has no valid works: nothing was published. "
            + "; ".join(str(e) for e in read.errors[:20]),
            field="file",
        )
    with tempfile.TemporaryDirectory() as staging:
        staged = Path(staging) / f"{name}.csv"
        staged.write_bytes(published_csv(list(read.works)))
        pushed = datasets.push(
            session, settings, actor.partner_key, name, staged, file_name=file_name, actor=actor
        )
    if pushed.outcome != "accepted":
        session.commit()  # the rejected push is on record
        raise WorksError(
            f"The gateway refused the programme for {name}: {pushed.report.get('reasons')}",
            field="file",
        )
    forget_public_programme()
    new = notify_new_clashes(session, settings, actor, via=via)
    return Published(
        name,
        pushed.outcome,
        pushed.snapshot.version if pushed.snapshot else None,
        len(read.works),
        list(read.errors),
        new,
    )


# -- telling promoters of new clashes ---------------------------------------------------------


def notify_new_clashes(
    session: Session, settings: Settings, actor: Actor, *, via: str = "web"
) -> list[Clash]:
    """Record every clash of the actor's programme not recorded before and notify both
    promoters' data providers (in the app, and by e-mail when SMTP is set). Each clash is
    notified once."""
    from civicshare.notifications import service as notifications

    read = programme(session, settings, actor, via=via)
    known = set(session.execute(select(ClashNotice.reference_a, ClashNotice.reference_b)).all())
    new = [c for c in read.coordination.clashes if c.pair not in known]
    for clash in new:
        a, b = read.promoter_of[clash.pair[0]], read.promoter_of[clash.pair[1]]
        session.add(
            ClashNotice(
                reference_a=clash.pair[0],
                reference_b=clash.pair[1],
                promoter_a=a,
                promoter_b=b,
                kind=clash.kind,
                severity=clash.severity,
                overlap_start=clash.overlap_start,
                overlap_end=clash.overlap_end,
            )
        )
        subject = (
            f"Works clash ({clash.severity}): {clash.pair[0]} and {clash.pair[1]}, "
            f"{clash.overlap_start:%d %b %Y} to {clash.overlap_end:%d %b %Y}"
        )
        work = read.coordination.work(clash.pair[0])
        body = (
            f"{read.promoter_name(clash.pair[0])}'s {clash.pair[0]} and "
            f"{read.promoter_name(clash.pair[1])}'s {clash.pair[1]} clash "
            f"({clash.kind.replace('_', ' ')}, {clash.distance_m:g} m apart) on {work.street} "
            f"from {clash.overlap_start:%d %B %Y} to {clash.overlap_end:%d %B %Y}. "
            "Agree a change of dates or a combined window with the other promoter."
        )
        for promoter in sorted({a, b}):
            if partners.get_by_key(session, promoter) is None:
                continue
            notifications.notify(
                session,
                settings,
                to_partner=promoter,
                role=Role.data_provider,
                subject=subject,
                body=body,
                link=f"/works/clashes#{clash.pair[0]}--{clash.pair[1]}",
            )
    if new:
        audit.record(
            session,
            actor,
            "works.clashes_notified",
            "works",
            None,
            details={"clashes": [list(c.pair) for c in new][:200], "count": len(new)},
        )
    return new


# -- the public roadworks map -----------------------------------------------------------------


def public_actor(session: Session, settings: Settings) -> Actor:
    """The gateway's own service membership of the street authority that reads works for the
    public map (created the first time; it cannot sign in: it has no password)."""
    partner = partners.get_by_key(session, settings.works_public_partner)
    if partner is None:
        raise WorksError(
            f"The public roadworks map reads as {settings.works_public_partner}, which is not a "
            "partner here: set works_public_partner.",
            field="works_public_partner",
            status=503,
        )
    return partners.service_actor(
        session, partner, email=PUBLIC_EMAIL, name=PUBLIC_NAME, via="public"
    )


_public_lock = threading.Lock()
_public_cache: dict[str, tuple[float, Programme]] = {}


def public_programme(session: Session, settings: Settings) -> Programme:
    """The programme the public map shows, read as the gateway's service membership; kept for
    a few minutes so residents' page views do not each re-read every promoter's dataset. The
    reads' audit records commit with the caller's unit of work."""
    key = settings.effective_database_url
    with _public_lock:
        held = _public_cache.get(key)
        if held and time.monotonic() - held[0] < PUBLIC_CACHE_SECONDS:
            return held[1]
        read = programme(session, settings, public_actor(session, settings), via="public")
        _public_cache[key] = (time.monotonic(), read)
        return read


def forget_public_programme() -> None:
    """Drop the public map's kept programme (after a publish, and in tests)."""
    with _public_lock:
        _public_cache.clear()


def near(read: Programme, x: float, y: float, radius_m: float, *, since: date) -> list[Work]:
    """Works within `radius_m` of a BNG point that have not ended before `since`, nearest
    first."""
    from shapely.geometry import Point

    here = Point(x, y)
    found = []
    for work in read.works:
        if work.proposed_end_date >= since:
            distance = work.location.distance(here)
            if distance <= radius_m:
                found.append((distance, work.work_reference_number, work))
    return [work for *_, work in sorted(found, key=lambda item: item[:2])]
