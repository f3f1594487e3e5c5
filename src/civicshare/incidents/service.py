"""Incident response: which vulnerable households are inside an incident area, now.

A responder opens an incident (a circle or a polygon in BNG metres) under an active
*emergency* agreement their partner receives under. Every view of the households:

1. decides, per dataset the agreement shares, whether this actor may have it now
   (sharing.service.decide: the same choke point as every other read);
2. executes the grant (sharing.delivery.share: decide, audit, execute, audit, receipt). The
   executed output is kept in memory keyed by the exact grant and snapshot version, so a second
   view under an identical grant of an unchanged snapshot re-decides but does not re-read the
   Parquet; a changed grant, agreement version or snapshot misses the cache and executes again;
3. places each record at a property (UPRN as given; else its first address line and postcode
   matched to the address gazetteer; else the postcode's centroid) and keeps the records
   inside the area by an exact distance or point-in-polygon test (geometry.py);
4. writes one audit record and one incident-log entry: who saw how many households, under which
   agreement, with the SHA-256 of what was returned.

Household level shows needs as flags, never names. Named detail needs break-glass: a stated
reason, for one incident, for one membership, expiring (12 hours by default); every view is
logged and audited and queued for review by the IG leads of each partner whose data was seen.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from civicshare import csvsafe
from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.audit import service as audit
from civicshare.config import Settings, get_settings
from civicshare.incidents.geometry import (
    Area,
    BadArea,
    PointIndex,
    distance_to_points,
    distance_to_shapes,
    to_wgs84,
)
from civicshare.incidents.models import (
    AreaKind,
    BreakGlass,
    BreakGlassReview,
    Incident,
    IncidentEvent,
    IncidentStatus,
    ReviewStatus,
)
from civicshare.incidents.reference import (
    PROPERTIES,
    Gazetteer,
    IncidentError,
    district_shapes,
    gazetteer,
    norm_postcode,
    reference_path,
)
from civicshare.partners import service as partners
from civicshare.partners.models import Membership, Role
from civicshare.sharing import delivery
from civicshare.sharing.compile import PERSON_KEY
from civicshare.sharing.service import ShareRequest, decide, governance_read

log = logging.getLogger(__name__)
BREAK_GLASS_HOURS = 12
MAX_BREAK_GLASS_HOURS = 72
MIN_REASON = 10
KINDS = ("fire", "flood", "gas", "chemical", "power", "other")
# An incident area further than this from every property and district boundary the partnership
# knows (its reference data) is refused unless the responder confirms it (a mistyped centre, a
# map clicked in the wrong county, latitude and longitude swapped).
OUTSIDE_AREA_M = 10_000.0

# -- priority ------------------------------------------------------------------------------

# (key, label), highest priority first. A household's priority is its highest need.
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("powered", "Depends on powered medical equipment or oxygen"),
    ("mobility", "Cannot get out unaided (mobility)"),
    ("cognitive", "Dementia, cognitive impairment or learning disability"),
    ("sensory", "Hearing or sight impaired: may not hear or see warnings"),
    ("alone85", "Aged 85 or over and living alone"),
    ("care", "Receives care and support"),
    ("other", "Other listed need (pensionable age, recovering from hospital)"),
)
RANK = {key: rank for rank, (key, _) in enumerate(CATEGORIES, start=1)}
LABEL = dict(CATEGORIES)
SHORT = {
    "powered": "Power/oxygen",
    "mobility": "Mobility",
    "cognitive": "Cognitive",
    "sensory": "Sensory",
    "alone85": "85+ alone",
    "care": "Care",
    "other": "Other",
}


def _truthy(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return str(value).strip().upper() in ("Y", "YES", "1", "TRUE", "T")


def _low_age(value: Any) -> int | None:
    """The youngest age a value allows: an age band ('85-89', '90+'), a year or a date."""
    if value is None:
        return None
    if isinstance(value, date):
        today = date.today()
        return today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    text = str(value)
    match = re.match(r"^(\d{1,3})(?:-\d+|\+)$", text)
    if match:
        return int(match.group(1))
    match = re.match(r"^(\d{4})$", text)
    if match:
        return date.today().year - int(match.group(1)) - 1
    try:
        return _low_age(date.fromisoformat(text[:10]))
    except ValueError:
        return None


PSR_CODES = {
    "3": "powered",
    "4": "powered",
    "26": "powered",
    "37": "powered",
    "12": "mobility",
    "19": "mobility",
    "20": "cognitive",
    "15": "care",
    "33": "other",
    "9": "other",
}
ASC_REASONS = {
    "physical support": "mobility",
    "support with memory and cognition": "cognitive",
    "learning disability support": "cognitive",
    "sensory support": "sensory",
}


def _psr(row: dict) -> set[str]:
    codes = str(row.get("needs_codes") or "").replace(",", ";").split(";")
    return {PSR_CODES[c.strip()] for c in codes if c.strip() in PSR_CODES}


def _asc(row: dict) -> set[str]:
    found = {"care"}
    reason = str(row.get("Primary Support Reason") or "").strip().lower()
    if reason in ASC_REASONS:
        found.add(ASC_REASONS[reason])
    return found


def _community(row: dict) -> set[str]:
    found = set()
    service = str(row.get("service") or "").lower()
    if _truthy(row.get("home_oxygen")) or "oxygen" in service:
        found.add("powered")
    if "falls" in service or "physio" in service:
        found.add("mobility")
    if "nursing" in service or "mental" in service:
        found.add("care")
    return found


def _fire(row: dict) -> set[str]:
    found = set()
    if _truthy(row.get("uses_oxygen")):
        found.add("powered")
    if _truthy(row.get("mobility_issues")):
        found.add("mobility")
    if _truthy(row.get("cognitive_impairment")):
        found.add("cognitive")
    if _truthy(row.get("hearing_impaired")) or _truthy(row.get("sight_impaired")):
        found.add("sensory")
    age = _low_age(row.get("occupier_dob"))
    if _truthy(row.get("lives_alone")) and age is not None and age >= 85:
        found.add("alone85")
    return found


def _over65(row: dict) -> set[str]:
    found = set()
    if _truthy(row.get("home_oxygen")):
        found.add("powered")
    if str(row.get("efi_category") or "").strip().lower() == "severe":
        found.add("mobility")
    if _truthy(row.get("dementia_register")):
        found.add("cognitive")
    age = _low_age(row.get("dob"))
    if _truthy(row.get("lives_alone")) and age is not None and age >= 85:
        found.add("alone85")
    return found


@dataclass(frozen=True)
class Reader:
    """How one dataset says where a person lives, what they need, and when it was checked."""

    needs: Callable[[dict], set[str]]
    uprn: str | None = None
    address: str | None = None  # first line, or a one-line address (up to the first comma)
    postcode: str | None = None
    verified: str | None = None
    names: tuple[str, ...] = ()
    current: Callable[[dict], bool] = lambda row: True


READERS: dict[str, Reader] = {
    "priority-services-register": Reader(
        _psr,
        address="address_1",
        postcode="postcode",
        verified="registered_date",
        names=("title", "first_name", "surname"),
    ),
    "asc-clients": Reader(
        _asc,
        address="Address",
        postcode="Post Code",
        names=("Client Name",),
        current=lambda row: str(row.get("Client Status") or "Open").strip().lower() != "closed",
    ),
    "community-health": Reader(
        _community,
        address="address_line_1",
        postcode="postcode",
        verified="referral_date",
        names=("patient_forename", "patient_surname"),
    ),
    "home-fire-safety-visits": Reader(
        _fire,
        uprn="uprn",
        address="address",
        postcode="postcode",
        verified="visit_date",
        names=("occupier_name",),
    ),
    "over-65-register": Reader(
        _over65,
        postcode="postcode",
        names=("forename", "surname"),
    ),
}


# -- drawing records through decide -> execute -----------------------------------------------


@dataclass
class Located:
    """One dataset's executed rows, placed on the map: only rows with a need and a place."""

    provider_key: str
    provider_name: str
    dataset: str
    agreement: str
    version: int
    snapshot_version: int
    snapshot_date: str
    columns: list[str]
    rows: list[dict]  # the delivered rows with a need and a place
    x: np.ndarray
    y: np.ndarray
    uprn: list[int | None]
    precision: list[str]  # "uprn" or "postcode"
    placed_by: list[str]  # "uprn", "address", "postcode"
    person: list[str | None]  # this agreement's token of the person index's key, if granted
    needs: list[frozenset[str]]
    verified: list[str]
    output_sha256: str


@dataclass
class Withheld:
    provider: str
    dataset: str
    reason: str
    clause: str


@dataclass
class Layer:
    sources: list[Located]
    withheld: list[Withheld]
    x: np.ndarray
    y: np.ndarray
    source_of: np.ndarray  # index into sources
    row_of: np.ndarray  # index into that source's rows
    uprn: list[int | None] = field(default_factory=list)
    precision: list[str] = field(default_factory=list)
    placed_by: list[str] = field(default_factory=list)
    index: PointIndex = field(repr=False, default=None)


_lock = threading.Lock()
# Old snapshots and grants fall out oldest first; a process keeps at most this many.
MAX_EXECUTED = 64
MAX_LAYERS = 16
_executed: dict[tuple, Located] = {}
_without_key: dict[tuple, tuple] = {}
_layers: dict[tuple, Layer] = {}


def _trim(cache: dict, limit: int) -> None:
    while len(cache) > limit:
        cache.pop(next(iter(cache)))


def clear_caches() -> None:
    with _lock:
        _executed.clear()
        _layers.clear()
        _without_key.clear()


def _grant_key(grant, snapshot_version: int) -> tuple:
    return (
        grant.agreement,
        grant.version,
        grant.provider,
        grant.recipient,
        grant.dataset,
        tuple(
            (c.column, c.treatment.value, getattr(c.generalisation, "value", None))
            for c in grant.columns
        ),
        json.dumps(grant.row_scope, sort_keys=True, default=str),
        snapshot_version,
    )


def _locate(table, reader: Reader, gaz: Gazetteer) -> dict[str, list]:
    out = {k: [] for k in ("rows", "x", "y", "uprn", "precision", "placed_by", "person", "needs")}
    gx, gy = gaz.index.x, gaz.index.y
    for row in table.to_pylist():
        if not reader.current(row):
            continue
        found = reader.needs(row)
        if not found:
            continue
        at = gaz.find_uprn(row.get(reader.uprn)) if reader.uprn else None
        how = "uprn"
        if at is None and reader.address and reader.postcode:
            at = gaz.find_address(row.get(reader.address), row.get(reader.postcode))
            how = "address"
        if at is not None:
            x, y, uprn, precision = gx[at], gy[at], int(gaz.uprn[at]), "uprn"
        else:
            centre = (
                gaz.centroids.get(norm_postcode(row.get(reader.postcode)))
                if reader.postcode
                else None
            )
            if centre is None:
                continue  # nowhere to put it: not in the county's address base
            (x, y), uprn, precision, how = centre, None, "postcode", "postcode"
        for name, value in (
            ("rows", row),
            ("x", x),
            ("y", y),
            ("uprn", uprn),
            ("precision", precision),
            ("placed_by", how),
            ("person", row.get(PERSON_KEY)),
            ("needs", frozenset(found)),
        ):
            out[name].append(value)
    return out


def _join_people(layer: Layer) -> None:
    """Records of one person (the same person-key token under this agreement) placed only at
    their postcode's centre move to the property where another dataset places that person, if
    the postcode agrees (a different postcode may be a move: left where it is)."""
    at_property: dict[str, int] = {}
    flat = []
    for i in range(len(layer.x)):
        source = layer.sources[int(layer.source_of[i])]
        row = int(layer.row_of[i])
        token = source.person[row]
        postcode = norm_postcode(source.rows[row].get(READERS[source.dataset].postcode))
        flat.append((token, postcode))
        if token and layer.precision[i] == "uprn":
            at_property.setdefault(token, i)
    for i, (token, postcode) in enumerate(flat):
        j = at_property.get(token) if token else None
        if j is None or layer.precision[i] != "postcode" or flat[j][1] != postcode:
            continue
        layer.x[i], layer.y[i] = layer.x[j], layer.y[j]
        layer.uprn[i] = layer.uprn[j]
        layer.precision[i] = "uprn"
        layer.placed_by[i] = "person key"


def _purpose(incident: Incident) -> str:
    return f"Incident {incident.reference}: {incident.title} (vulnerable households in the area)"


def _draw(session: Session, settings: Settings, actor: Actor, incident: Incident) -> Layer:
    # One read of partners and active agreements for the five decisions of this view (each
    # dataset is still decided in full, by decide(), on every view).
    with governance_read(session):
        return _draw_governed(session, settings, actor, incident)


def _draw_governed(session: Session, settings: Settings, actor: Actor, incident: Incident) -> Layer:
    from civicshare.datasets import service as datasets

    version = agreements.active_version(session, _agreement(session, incident.agreement))
    if version is None or not version.emergency:
        raise IncidentError(
            f"{incident.agreement} is not an emergency agreement in force today: nothing is "
            "shared.",
            status=403,
        )
    gaz = gazetteer(settings)
    wanted = sorted({(item.provider.key, item.dataset) for item in version.shared_items})
    wanted = [(provider_key, dataset) for provider_key, dataset in wanted if dataset in READERS]
    snapshots = datasets.current_snapshots(session, wanted, settings)  # one query for all
    sources, withheld, keys = [], [], []
    for provider_key, dataset in wanted:
        reader = READERS[dataset]
        snapshot = snapshots[(provider_key, dataset)]
        # When the person key could not be joined for this snapshot and person index, ask
        # without it straight away (one decision per dataset per view, as always).
        hint_key = (incident.agreement, provider_key, dataset, actor.partner_key)
        stamp = (snapshot.file_sha256 if snapshot else None, _mapping_stamp(settings))
        hint = _without_key.get(hint_key)
        ask = ShareRequest(
            actor=actor,
            purpose=_purpose(incident),
            provider=provider_key,
            dataset=dataset,
            agreement=incident.agreement,
            incident=incident.reference,
            columns=hint[1] if hint is not None and hint[0] == stamp else None,
        )
        decision = decide(session, ask)
        if not decision.allowed:
            withheld.append(Withheld(provider_key, dataset, decision.reason, decision.clause))
            continue
        if snapshot is None:
            withheld.append(
                Withheld(
                    provider_key,
                    dataset,
                    f"{provider_key} has not pushed {dataset}.",
                    "no snapshot",
                )
            )
            continue

        def key_of(grant, snapshot=snapshot):
            return _grant_key(grant, snapshot.version) + (
                str(snapshot.data_path),
                snapshot.file_sha256,
                _person_index_stamp(settings, grant),
            )

        key = key_of(decision.grant)
        with _lock:
            located = _executed.get(key)
        if located is None:
            granted = [c.column for c in decision.grant.columns]
            failure: str | None = None
            try:
                delivered = delivery.share(session, settings, ask, via="incident")
            except delivery.Denied as error:
                if PERSON_KEY not in granted or error.decision.clause != "cannot execute":
                    withheld.append(
                        Withheld(
                            provider_key, dataset, error.decision.reason, error.decision.clause
                        )
                    )
                    continue
                failure = error.decision.reason
            except Exception:
                if PERSON_KEY not in granted:
                    raise
                log.exception("%s/%s with the person key failed", provider_key, dataset)
                failure = "the person key could not be joined"
            if failure is not None:
                # The households matter more than the join: ask again without the person key
                # (remembered until the snapshot or the person index changes).
                columns = tuple(c for c in granted if c != PERSON_KEY)
                with _lock:
                    _without_key[hint_key] = (stamp, columns)
                ask = ShareRequest(
                    actor=actor,
                    purpose=ask.purpose,
                    provider=provider_key,
                    dataset=dataset,
                    agreement=incident.agreement,
                    incident=incident.reference,
                    columns=columns,
                )
                decision = decide(session, ask)
                if not decision.allowed:
                    withheld.append(
                        Withheld(provider_key, dataset, decision.reason, decision.clause)
                    )
                    continue
                key = key_of(decision.grant)
                try:
                    delivered = delivery.share(session, settings, ask, via="incident")
                except delivery.Denied as again:
                    withheld.append(
                        Withheld(
                            provider_key, dataset, again.decision.reason, again.decision.clause
                        )
                    )
                    continue
            placed = _locate(delivered.table, reader, gaz)
            rows = placed["rows"]
            verified = []
            for row in rows:
                value = row.get(reader.verified) if reader.verified else None
                verified.append(
                    str(value)[:10] if value else snapshot.created_at.date().isoformat()
                )
            provider = partners.get_by_key(session, provider_key)
            located = Located(
                provider_key=provider_key,
                provider_name=provider.name,
                dataset=dataset,
                agreement=decision.agreement,
                version=decision.version,
                snapshot_version=snapshot.version,
                snapshot_date=snapshot.created_at.date().isoformat(),
                columns=delivered.table.column_names,
                rows=rows,
                x=np.asarray(placed["x"], dtype=np.float64),
                y=np.asarray(placed["y"], dtype=np.float64),
                uprn=placed["uprn"],
                precision=placed["precision"],
                placed_by=placed["placed_by"],
                person=placed["person"],
                needs=placed["needs"],
                verified=verified,
                output_sha256=delivered.output_sha256,
            )
            with _lock:
                _executed[key] = located
                _trim(_executed, MAX_EXECUTED)
        sources.append(located)
        keys.append(key)
    layer_key = (tuple(keys), len(gaz))
    with _lock:
        layer = _layers.get(layer_key)
    if layer is None:
        x = np.concatenate([s.x for s in sources]) if sources else np.zeros(0)
        y = np.concatenate([s.y for s in sources]) if sources else np.zeros(0)
        source_of = (
            np.concatenate([np.full(len(s.x), i, dtype=np.int32) for i, s in enumerate(sources)])
            if sources
            else np.zeros(0, dtype=np.int32)
        )
        row_of = (
            np.concatenate([np.arange(len(s.x), dtype=np.int64) for s in sources])
            if sources
            else np.zeros(0, dtype=np.int64)
        )
        layer = Layer(
            sources,
            [],
            x.copy(),
            y.copy(),
            source_of,
            row_of,
            uprn=[u for s in sources for u in s.uprn],
            precision=[p for s in sources for p in s.precision],
            placed_by=[p for s in sources for p in s.placed_by],
        )
        _join_people(layer)
        layer.index = PointIndex(layer.x, layer.y)
        with _lock:
            _layers[layer_key] = layer
            _trim(_layers, MAX_LAYERS)
    return Layer(
        layer.sources,
        withheld,
        layer.x,
        layer.y,
        layer.source_of,
        layer.row_of,
        layer.uprn,
        layer.precision,
        layer.placed_by,
        layer.index,
    )


def _mapping_stamp(settings: Settings) -> float:
    path = settings.data_dir / delivery.PERSON_INDEX
    return path.stat().st_mtime if path.is_file() else 0.0


def _person_index_stamp(settings: Settings, grant) -> float | None:
    """When the grant carries the person key, its tokens depend on the person index's mapping
    file: a new mapping must not be answered from memory."""
    if PERSON_KEY not in {c.column for c in grant.columns}:
        return None
    return _mapping_stamp(settings)


# -- incidents --------------------------------------------------------------------------------


def area_of(incident: Incident) -> Area:
    if incident.area_kind == AreaKind.circle:
        return Area.circle(incident.centre_easting, incident.centre_northing, incident.radius_m)
    origin = None
    if incident.centre_easting is not None and incident.centre_northing is not None:
        origin = (incident.centre_easting, incident.centre_northing)
    return Area.from_polygons(incident.polygon, origin)


def emergency_agreements_for(session: Session, actor: Actor) -> list:
    """Active emergency agreement versions under which the actor's partner receives data."""
    found = []
    for version in agreements.active_versions(session):
        party = version.party(actor.partner_id)
        if version.emergency and party is not None and party.role.receives:
            found.append(version)
    return sorted(found, key=lambda v: v.agreement.reference, reverse=True)


def _require_responder(actor: Actor) -> None:
    if not actor.has_role(Role.responder):
        raise IncidentError(
            f"Acting for {actor.partner_name}, you are not a responder: only responders open "
            "incidents and see households.",
            status=403,
        )


def _log(session, incident, actor: Actor | None, action, summary, **details) -> IncidentEvent:
    event = IncidentEvent(
        incident_id=incident.id,
        membership_id=actor.membership_id if actor else None,
        action=action,
        summary=summary,
        details=details,
    )
    session.add(event)
    return event


def _free_text(text: str, field: str, what: str) -> None:
    """Titles, notes, reasons and comments go into the audit log (and an incident's title into
    the purpose of every share it makes): none may hold a resident's identifier."""
    refusal = audit.identifier_refusal(what, text)
    if refusal:
        raise IncidentError(f"{refusal}.", field, status=422)


def _audit(session, actor, action, incident, reason="", **facts) -> None:
    details = facts.pop("details", {})
    if "purpose" in facts:  # texts stored before identifiers were refused are kept redacted
        facts["purpose"] = audit.redacted(facts["purpose"])
    audit.record(
        session,
        actor,
        action,
        "incident",
        incident.reference,
        reason=audit.redacted(reason) or "",
        agreement_ref=incident.agreement,
        details={"incident": incident.reference, **details},
        **facts,
    )


def _area_details(area: Area) -> dict[str, Any]:
    if area.kind == "circle":
        return {"kind": "circle", "centre": list(area.origin), "radius_m": area.radius_m}
    return {"kind": "polygon", "origin": list(area.origin), "polygons": len(area.polygons)}


def _set_area(incident: Incident, area: Area) -> None:
    incident.area_kind = AreaKind(area.kind)
    incident.centre_easting, incident.centre_northing = area.origin
    incident.radius_m = area.radius_m
    incident.polygon = (
        [[[list(p) for p in ring] for ring in rings] for rings in area.polygons]
        if area.kind == "polygon"
        else None
    )


def distance_outside(settings: Settings, area: Area) -> float | None:
    """Metres from the area to the nearest property of the address gazetteer or district
    boundary the partnership knows (0 when it touches or overlaps one); None when neither
    reference file is installed, so there is nothing to measure against."""
    found = []
    if reference_path(settings, PROPERTIES).is_file():
        found.append(distance_to_points(area, gazetteer(settings).index))
    found.append(distance_to_shapes(area, district_shapes(settings)))
    found = [distance for distance in found if distance is not None]
    return min(found) if found else None


def _outside_area(settings: Settings, area: Area, confirmed: bool) -> dict[str, Any] | None:
    """Refuse an area far from everything the partnership knows unless confirmed; the facts
    to record when it was confirmed."""
    distance = distance_outside(settings, area)
    if distance is None or distance <= OUTSIDE_AREA_M:
        return None
    if not confirmed:
        raise IncidentError(
            f"The incident area is {distance / 1000:,.1f} km from the nearest property or "
            f"district the partnership knows (more than {OUTSIDE_AREA_M / 1000:,.0f} km): "
            "check the centre or polygon, or confirm that the incident is outside the "
            "partnership's area.",
            "confirm_outside_area",
            status=422,
        )
    return {"distance_m": round(distance), "limit_m": OUTSIDE_AREA_M, "confirmed": True}


def open_incident(
    session: Session,
    actor: Actor,
    *,
    title: str,
    kind: str,
    area: Area,
    agreement: str | None = None,
    settings: Settings | None = None,
    confirm_outside_area: bool = False,
) -> Incident:
    """Open an incident. An area more than OUTSIDE_AREA_M from every property and district
    the partnership knows is refused (field `confirm_outside_area`, status 422) unless
    `confirm_outside_area`; a confirmation is recorded in the incident log and the audit."""
    _require_responder(actor)
    title = (title or "").strip()
    if len(title) < 3:
        raise IncidentError(
            "Give the incident a title (for example, House fire, 12 Mill Lane).", "title"
        )
    _free_text(title, "title", "An incident's title")
    if kind not in KINDS:
        raise IncidentError(f"Choose the kind of incident: one of {', '.join(KINDS)}.", "kind")
    available = emergency_agreements_for(session, actor)
    if not available:
        raise IncidentError(
            f"No active emergency agreement lets {actor.partner_name} receive data today.",
            "agreement",
            status=403,
        )
    if agreement:
        chosen = next((v for v in available if v.agreement.reference == agreement), None)
        if chosen is None:
            raise IncidentError(
                f"{agreement} is not an active emergency agreement {actor.partner_name} receives "
                "under.",
                "agreement",
                status=403,
            )
    elif len(available) == 1:
        chosen = available[0]
    else:
        references = ", ".join(v.agreement.reference for v in available)
        raise IncidentError(
            f"Several emergency agreements are active ({references}): choose one.", "agreement"
        )
    outside = _outside_area(settings or get_settings(), area, confirm_outside_area)
    number = (session.scalar(select(func.max(Incident.id))) or 0) + 1
    incident = Incident(
        reference=f"INC-{number:04d}",
        title=title,
        kind=kind,
        agreement=chosen.agreement.reference,
        partner_id=actor.partner_id,
        opened_by_id=actor.membership_id,
        area_kind=AreaKind(area.kind),
    )
    _set_area(incident, area)
    session.add(incident)
    session.flush()
    details = _area_details(area)
    summary = f"Opened by {actor.label}"
    if outside is not None:
        details["outside_area"] = outside
        summary += (
            f", confirmed outside the partnership's area ({outside['distance_m'] / 1000:,.1f} "
            "km from the nearest property or district it knows)"
        )
    _log(session, incident, actor, "opened", summary, **details)
    _audit(session, actor, "incident_opened", incident, reason=title, details=details)
    return incident


def get_incident(session: Session, reference: str) -> Incident:
    found = session.scalars(select(Incident).where(Incident.reference == reference)).one_or_none()
    if found is None:
        raise IncidentError(f"There is no incident {reference}.", status=404)
    return found


_AGREEMENTS = "incidents.agreements"


def _agreement(session: Session, reference: str):
    """The agreement, read once per transaction of the session: the route's may_see() and the
    view's active version read the same object (with its versions and parties) instead of
    querying it again (the session holds unmodified objects only weakly). A commit or rollback
    starts afresh, so a suspension committed elsewhere is seen by the next transaction."""
    transaction = session.get_transaction()
    held = session.info.get(_AGREEMENTS)
    if transaction is None or held is None or held[0] is not transaction:
        held = (transaction, {})
        if transaction is not None:
            session.info[_AGREEMENTS] = held
    found = held[1].get(reference)
    if found is None:
        found = held[1][reference] = agreements.get(session, reference)
    return found


def may_see(session: Session, actor: Actor, incident: Incident) -> bool:
    """Responders and IG leads of a party to the incident's agreement (any version)."""
    if not actor.has_role(Role.responder, Role.ig_lead):
        return False
    # Asked several times in one unit of work (the route, then the view): answered once.
    memo = session.info.setdefault("incidents.may_see", {})
    key = (actor.membership_id, incident.id, incident.agreement)
    if key not in memo:
        try:
            agreement = _agreement(session, incident.agreement)
        except agreements.NotFound:
            memo[key] = False
        else:
            memo[key] = any(v.party(actor.partner_id) for v in agreement.versions)
    return memo[key]


def get_for(session: Session, actor: Actor, reference: str) -> Incident:
    incident = get_incident(session, reference)
    if not may_see(session, actor, incident):
        raise IncidentError(
            f"{actor.partner_name} is not party to {incident.agreement}, the agreement "
            f"{reference} acts under.",
            status=403,
        )
    return incident


def list_for(session: Session, actor: Actor) -> list[Incident]:
    incidents = session.scalars(select(Incident).order_by(Incident.id.desc())).all()
    return [i for i in incidents if may_see(session, actor, i)]


def update_area(
    session: Session, actor: Actor, incident: Incident, area: Area, note: str = ""
) -> Incident:
    _require_responder(actor)
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is closed.", status=409)
    _free_text(note, "note", "A note")
    before = _area_details(area_of(incident))
    _set_area(incident, area)
    incident.updated_at = datetime.now(UTC)
    details = {"before": before, "after": _area_details(area)}
    _log(session, incident, actor, "area_changed", note or "Area changed", **details)
    _audit(session, actor, "incident_updated", incident, reason=note, details=details)
    return incident


def close_incident(session: Session, actor: Actor, incident: Incident, note: str) -> Incident:
    _require_responder(actor)
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is already closed.", status=409)
    note = (note or "").strip()
    if len(note) < MIN_REASON:
        raise IncidentError(
            "Say why the incident is closed (for example, stood down at 04:10).", "note"
        )
    _free_text(note, "note", "A note")
    now = datetime.now(UTC)
    incident.status = IncidentStatus.closed
    incident.closed_at = now
    incident.closing_note = note
    for grant in session.scalars(
        select(BreakGlass).where(
            BreakGlass.incident_id == incident.id, BreakGlass.ended_at.is_(None)
        )
    ):
        grant.ended_at = now
    _log(session, incident, actor, "closed", note)
    _audit(session, actor, "incident_closed", incident, reason=note)
    return incident


# -- households -------------------------------------------------------------------------------


@dataclass
class Households:
    incident: str
    agreement: str
    area: Area
    households: list[dict]
    counts: dict[str, int]
    properties_in_area: int
    withheld: list[Withheld]
    output_sha256: str


def _key_of(layer: Layer, i: int) -> str:
    """The household a placed record belongs to: its property, or its postcode."""
    uprn = layer.uprn[i]
    if uprn is not None:
        return str(uprn)
    source = layer.sources[int(layer.source_of[i])]
    row = source.rows[int(layer.row_of[i])]
    return "postcode:" + norm_postcode(row.get(READERS[source.dataset].postcode))


def _households(layer: Layer, area: Area, gaz: Gazetteer) -> list[dict]:
    inside = layer.index.within(area)
    groups: dict[str, dict] = {}
    for i in inside:
        source = layer.sources[int(layer.source_of[i])]
        row = int(layer.row_of[i])
        uprn = layer.uprn[i]
        x, y = float(layer.x[i]), float(layer.y[i])
        key = _key_of(layer, i)
        house = groups.get(key)
        if house is None:
            if uprn is not None:
                at = gaz.find_uprn(uprn)
                address, postcode = gaz.address[at], gaz.postcode[at]
            else:
                postcode = str(source.rows[row].get(READERS[source.dataset].postcode) or "").upper()
                address = "Address not matched to a property"
            house = groups[key] = {
                "key": key,
                "uprn": str(uprn) if uprn is not None else None,
                "address": address,
                "postcode": postcode,
                "precision": layer.precision[i],
                "easting": round(x, 1),
                "northing": round(y, 1),
                "needs": set(),
                "sources": {},
                "records": 0,
                "people": set(),
            }
        house["needs"] |= source.needs[row]
        house["records"] += 1
        house["people"].add(source.person[row] or f"record {i}")
        said = house["sources"].setdefault(
            (source.provider_key, source.dataset),
            {
                "partner": source.provider_name,
                "partner_key": source.provider_key,
                "dataset": source.dataset,
                "needs": set(),
                "last_verified": "",
            },
        )
        said["needs"] |= source.needs[row]
        said["last_verified"] = max(said["last_verified"], source.verified[row])
    houses = list(groups.values())
    if houses:
        xs = np.array([h["easting"] for h in houses])
        ys = np.array([h["northing"] for h in houses])
        distances = area.distances(xs, ys)
        lons, lats = to_wgs84(xs, ys)
        for house, d, lon, lat in zip(
            houses, distances, np.atleast_1d(lons), np.atleast_1d(lats), strict=True
        ):
            ranked = sorted(house["needs"], key=RANK.__getitem__)
            # Records of one person in several datasets count once (person key, if granted).
            house["people"] = len(house["people"])
            house["distance_m"] = round(float(d), 1)
            house["priority"] = RANK[ranked[0]]
            house["priority_key"] = ranked[0]
            house["priority_label"] = LABEL[ranked[0]]
            house["needs"] = ranked
            house["need_labels"] = [LABEL[n] for n in ranked]
            house["lon"], house["lat"] = round(float(lon), 7), round(float(lat), 7)
            house["sources"] = [
                {**s, "needs": sorted(s["needs"], key=RANK.__getitem__)}
                for s in sorted(
                    house["sources"].values(), key=lambda s: (s["partner"], s["dataset"])
                )
            ]
    houses.sort(key=lambda h: (h["priority"], h["distance_m"], h["address"]))
    return houses


def _digest(houses: list[dict]) -> str:
    return hashlib.sha256(json.dumps(houses, sort_keys=True, default=str).encode()).hexdigest()


def _compute(session: Session, settings: Settings, actor: Actor, incident: Incident):
    _require_responder(actor)
    if not may_see(session, actor, incident):
        raise IncidentError(
            f"{actor.partner_name} is not party to {incident.agreement}.", status=403
        )
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is closed: nothing more is shared.", status=409)
    area = area_of(incident)
    layer = _draw(session, settings, actor, incident)
    gaz = gazetteer(settings)
    return area, layer, gaz, _households(layer, area, gaz)


def households(
    session: Session,
    settings: Settings,
    actor: Actor,
    incident: Incident,
    *,
    via: str = "api",
) -> Households:
    """The vulnerable households in the incident's area, by priority then distance. Audited."""
    area, layer, gaz, houses = _compute(session, settings, actor, incident)
    counts = {key: 0 for key, _ in CATEGORIES}
    for house in houses:
        for need in house["needs"]:
            counts[need] += 1
    properties = int(gaz.index.within(area).size)
    digest = _digest(houses)
    datasets = sorted({f"{s.provider_key}/{s.dataset}" for s in layer.sources})
    _log(
        session,
        incident,
        actor,
        "viewed",
        f"{actor.label} saw {len(houses)} households ({via})",
        households=len(houses),
        datasets=datasets,
        via=via,
    )
    _audit(
        session,
        actor,
        "incident_households_viewed",
        incident,
        purpose=_purpose(incident),
        row_count=len(houses),
        output_sha256=digest,
        outcome="allowed",
        details={"datasets": datasets, "via": via, "withheld": [w.dataset for w in layer.withheld]},
    )
    return Households(
        incident=incident.reference,
        agreement=incident.agreement,
        area=area,
        households=houses,
        counts=counts,
        properties_in_area=properties,
        withheld=layer.withheld,
        output_sha256=digest,
    )


EXPORT_COLUMNS = (
    "priority",
    "priority_label",
    "distance_m",
    "address",
    "postcode",
    "uprn",
    "precision",
    "needs",
    "sources",
    "easting",
    "northing",
    "lat",
    "lon",
)


def export_csv(result: Households) -> str:
    """The households as CSV; text starting = + - @ tab or CR is prefixed with ' (see csvsafe)."""
    return csvsafe.rows_text(
        (
            [
                h["priority"],
                h["priority_label"],
                h["distance_m"],
                h["address"],
                h["postcode"],
                h["uprn"] or "",
                h["precision"],
                "; ".join(h["need_labels"]),
                "; ".join(
                    f"{s['partner']} ({s['dataset']}, verified {s['last_verified']})"
                    for s in h["sources"]
                ),
                h["easting"],
                h["northing"],
                h["lat"],
                h["lon"],
            ]
            for h in result.households
        ),
        EXPORT_COLUMNS,
    )


def export_geojson(result: Households) -> dict[str, Any]:
    features = [result.area.to_wgs84_geojson()]
    for h in result.households:
        properties = {
            k: h[k] for k in EXPORT_COLUMNS if k not in ("lat", "lon", "needs", "sources")
        }
        properties["needs"] = h["needs"]
        properties["sources"] = [
            {"partner": s["partner"], "dataset": s["dataset"], "last_verified": s["last_verified"]}
            for s in h["sources"]
        ]
        features.append(
            {
                "type": "Feature",
                "properties": properties,
                "geometry": {"type": "Point", "coordinates": [h["lon"], h["lat"]]},
            }
        )
    return {"type": "FeatureCollection", "name": result.incident, "features": features}


def record_export(session, actor, incident, result: Households, fmt: str) -> None:
    _log(
        session,
        incident,
        actor,
        "exported",
        f"{actor.label} exported {fmt}",
        households=len(result.households),
        format=fmt,
    )
    _audit(
        session,
        actor,
        "incident_exported",
        incident,
        row_count=len(result.households),
        output_sha256=result.output_sha256,
        outcome="allowed",
        details={"format": fmt},
    )


# -- break-glass ----------------------------------------------------------------------------


def active_break_glass(session: Session, actor: Actor, incident: Incident) -> BreakGlass | None:
    now = datetime.now(UTC)
    for grant in session.scalars(
        select(BreakGlass)
        .where(
            BreakGlass.incident_id == incident.id,
            BreakGlass.membership_id == actor.membership_id,
            BreakGlass.ended_at.is_(None),
        )
        .order_by(BreakGlass.id.desc())
    ):
        expires = (
            grant.expires_at if grant.expires_at.tzinfo else grant.expires_at.replace(tzinfo=UTC)
        )
        if expires > now:
            return grant
    return None


def break_glass(
    session: Session,
    actor: Actor,
    incident: Incident,
    reason: str,
    hours: float = BREAK_GLASS_HOURS,
) -> BreakGlass:
    _require_responder(actor)
    if not may_see(session, actor, incident):
        raise IncidentError(
            f"{actor.partner_name} is not party to {incident.agreement}.", status=403
        )
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is closed.", status=409)
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON:
        raise IncidentError(
            "State why you need named people's details (for example, crews entering 4 Mill "
            "Lane need to know who is inside).",
            "reason",
        )
    _free_text(reason, "reason", "A break-glass reason")
    if not (0 < hours <= MAX_BREAK_GLASS_HOURS):
        raise IncidentError(
            f"Break-glass lasts more than 0 and at most {MAX_BREAK_GLASS_HOURS} hours.", "hours"
        )
    now = datetime.now(UTC)
    grant = BreakGlass(
        incident_id=incident.id,
        membership_id=actor.membership_id,
        reason=reason,
        opened_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(grant)
    session.flush()
    _log(session, incident, actor, "break_glass", reason, break_glass=grant.id, hours=hours)
    _audit(
        session,
        actor,
        "incident_break_glass",
        incident,
        reason=reason,
        details={"break_glass": grant.id, "expires_at": grant.expires_at.isoformat()},
    )
    return grant


INTERNAL = ("needs",)


def people_at(
    session: Session, settings: Settings, actor: Actor, incident: Incident, key: str
) -> dict[str, Any]:
    """Named detail at one household inside the area: exactly the columns the agreement
    grants, as it grants them. Records your own partner provided need no break-glass (it is
    your own data: social care sees its clients, the fire service its visits); other
    partners' records need the actor's break-glass, and each such view is queued for review by
    those partners' IG leads. Every view is logged and audited."""
    grant = active_break_glass(session, actor, incident)
    area, layer, _gaz, houses = _compute(session, settings, actor, incident)
    house = next((h for h in houses if h["key"] == key), None)
    if house is None:
        raise IncidentError(
            f"No vulnerable household {key} is inside {incident.reference}.", status=404
        )
    people, seen, withheld_records = [], {}, 0
    for i in layer.index.within(area):
        source = layer.sources[int(layer.source_of[i])]
        row = int(layer.row_of[i])
        if _key_of(layer, int(i)) != key:
            continue
        own = source.provider_key == actor.partner_key
        if grant is None and not own:
            withheld_records += 1
            continue
        values = source.rows[row]
        reader = READERS[source.dataset]
        name = (
            " ".join(str(values[c]) for c in reader.names if values.get(c)) or "(name not shared)"
        )
        people.append(
            {
                "name": name,
                "partner": source.provider_name,
                "dataset": source.dataset,
                "needs": [LABEL[n] for n in sorted(source.needs[row], key=RANK.__getitem__)],
                "last_verified": source.verified[row],
                "own": own,
                "person": (source.person[row] or "")[:12] or None,
                "placed_by": layer.placed_by[i],
                "details": {
                    c: (str(v) if v is not None else "")
                    for c, v in values.items()
                    if c != PERSON_KEY
                },
            }
        )
        if own:
            continue  # your own partner's data: nothing to review
        entry = seen.setdefault(source.provider_key, {"datasets": set(), "records": 0})
        entry["datasets"].add(source.dataset)
        entry["records"] += 1
    if not people:
        raise IncidentError(
            "Named detail needs break-glass for this incident: state your reason first.",
            status=403,
        )
    people.sort(key=lambda p: (p["person"] or "~", p["dataset"]))  # one person's records together
    for provider_key, entry in seen.items():
        partner = partners.get_by_key(session, provider_key)
        review = session.scalars(
            select(BreakGlassReview).where(
                BreakGlassReview.break_glass_id == grant.id,
                BreakGlassReview.partner_id == partner.id,
            )
        ).one_or_none()
        if review is None:
            review = BreakGlassReview(
                break_glass_id=grant.id, partner_id=partner.id, datasets=[], records_seen=0
            )
            session.add(review)
        review.datasets = sorted(set(review.datasets or []) | entry["datasets"])
        review.records_seen = (review.records_seen or 0) + entry["records"]
    _log(
        session,
        incident,
        actor,
        "named_detail",
        f"{actor.label} saw {len(people)} named records at {house['address']}",
        household=key,
        records=len(people),
        break_glass=grant.id if grant else None,
        partners=sorted(seen),
    )
    _audit(
        session,
        actor,
        "incident_named_detail_viewed",
        incident,
        reason=grant.reason if grant else "own partner's records",
        purpose=_purpose(incident),
        row_count=len(people),
        outcome="allowed",
        details={
            "household": key,
            "break_glass": grant.id if grant else None,
            "partners": sorted(seen),
        },
    )
    return {
        "household": house,
        "people": people,
        "break_glass": grant,
        "needs_break_glass": withheld_records,
    }


# -- retrospective review -------------------------------------------------------------------


def review_queue(
    session: Session, actor: Actor, *, pending_only: bool = False
) -> list[BreakGlassReview]:
    if not actor.has_role(Role.ig_lead):
        raise IncidentError("Only IG leads review break-glass access.", status=403)
    query = select(BreakGlassReview).where(BreakGlassReview.partner_id == actor.partner_id)
    if pending_only:
        query = query.where(BreakGlassReview.status == ReviewStatus.pending)
    reviews = session.scalars(query.order_by(BreakGlassReview.id.desc())).all()
    return sorted(reviews, key=lambda r: r.status != ReviewStatus.pending)


def review(
    session: Session, actor: Actor, review_id: int, outcome: str, comment: str
) -> BreakGlassReview:
    if not actor.has_role(Role.ig_lead):
        raise IncidentError("Only IG leads review break-glass access.", status=403)
    found = session.get(BreakGlassReview, review_id)
    if found is None or found.partner_id != actor.partner_id:
        raise IncidentError(f"There is no review {review_id} for {actor.partner_name}.", status=404)
    if outcome not in (ReviewStatus.appropriate.value, ReviewStatus.inappropriate.value):
        raise IncidentError("Say whether the access was appropriate or not.", "outcome")
    comment = (comment or "").strip()
    if outcome == ReviewStatus.inappropriate.value and len(comment) < MIN_REASON:
        raise IncidentError("Say what was inappropriate and what happens next.", "comment")
    _free_text(comment, "comment", "A review comment")
    found.status = ReviewStatus(outcome)
    found.comment = comment
    found.reviewed_by_id = actor.membership_id
    found.reviewed_at = datetime.now(UTC)
    incident = found.break_glass.incident
    _log(
        session,
        incident,
        actor,
        "reviewed",
        f"{actor.label} reviewed break-glass {found.break_glass_id}: {outcome}",
        review=found.id,
        outcome=outcome,
    )
    _audit(
        session,
        actor,
        "incident_break_glass_reviewed",
        incident,
        reason=comment,
        details={"review": found.id, "break_glass": found.break_glass_id, "outcome": outcome},
    )
    return found


def events(session: Session, incident: Incident) -> list[IncidentEvent]:
    return list(
        session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident.id)
            .order_by(IncidentEvent.id)
        )
    )


def membership_label(session: Session, membership_id: int | None) -> str:
    if membership_id is None:
        return "the gateway"
    membership = session.get(Membership, membership_id)
    return f"{membership.person.display_name} ({membership.partner.name})"


def area_from_input(
    *,
    easting: float | None = None,
    northing: float | None = None,
    radius_m: float | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    geojson: Any = None,
) -> Area:
    """An area from what a form, the API or the CLI gives: a point (BNG or WGS84) and a radius,
    or a GeoJSON polygon (optionally with a point as the origin of distances)."""
    from civicshare.incidents.geometry import parse_geojson, to_bng

    if (latitude is None) != (longitude is None):
        raise BadArea(
            "latitude" if latitude is None else "longitude", "give both latitude and longitude"
        )
    if latitude is not None:
        easting, northing = (float(v) for v in to_bng(longitude, latitude))
    if geojson not in (None, "", {}):
        origin = (easting, northing) if easting is not None and northing is not None else None
        return Area.from_polygons(parse_geojson(geojson), origin)
    if easting is None or northing is None:
        raise BadArea(
            "centre", "give a centre (easting and northing, or latitude and longitude) or a polygon"
        )
    if radius_m is None:
        raise BadArea("radius_m", "give a radius in metres")
    return Area.circle(float(easting), float(northing), float(radius_m))


def rings_in_bng(polygons: Iterable) -> list:
    return [[[list(p) for p in ring] for ring in rings] for rings in polygons]
