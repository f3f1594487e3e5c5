"""The drawing layer: each dataset the incident's agreement shares, read through sharing's
decide -> execute and placed on properties."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy.orm import Session

from civicshare.accounts.service import Actor
from civicshare.agreements import service as agreements
from civicshare.config import Settings
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.geometry import (
    PointIndex,
)
from civicshare.incidents.models import (
    Incident,
)
from civicshare.incidents.reference import (
    Gazetteer,
    gazetteer,
    norm_postcode,
)
from civicshare.incidents.service.common import _purpose
from civicshare.incidents.service.incidents import _agreement
from civicshare.incidents.service.readers import READERS, Reader
from civicshare.partners import service as partners
from civicshare.sharing import delivery
from civicshare.sharing.compile import PERSON_KEY
from civicshare.sharing.service import ShareRequest, decide, governance_read

log = logging.getLogger(__name__)

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
