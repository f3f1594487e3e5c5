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
from civicshare.config import Settings
from civicshare.dataplane.query import PERSON_INDEX, PERSON_KEY
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.gazetteer import (
    Gazetteer,
    gazetteer,
    norm_postcode,
)
from civicshare.incidents.geometry import (
    PointIndex,
)
from civicshare.incidents.models import (
    Incident,
)
from civicshare.incidents.service.common import share_purpose, share_purpose_code
from civicshare.incidents.service.readers import RULES, Reader, reader_for
from civicshare.partners import service as partners
from civicshare.sharing import delivery
from civicshare.sharing.service import ShareRequest, active_version, decide, governance_read

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
    reader: Reader  # how this snapshot's contract says where and who


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


# -- the cache of executed rows: one per app -------------------------------------------------

# Old snapshots and grants fall out oldest first; a cache keeps at most this many.
MAX_EXECUTED = 64
MAX_LAYERS = 16
APP_STATE = "incident_draws"  # the app's cache, on app.state
_app_lock = threading.Lock()


class DrawCache:
    """Decrypted rows a view executed, placed on the map, kept for the next view under an
    identical grant of an unchanged snapshot; and the layers built from them.

    An executed dataset is keyed by its exact grant (agreement and version, provider,
    recipient, dataset, each column's treatment, row scope), the snapshot (version, path and
    SHA-256 of its file) and, when the person key is granted, the person index's mapping: a
    new snapshot, grant or mapping misses and executes again. A layer is keyed by the keys of
    its datasets and the size of the gazetteer. Both are bounded (MAX_EXECUTED, MAX_LAYERS),
    the oldest falling out first. The web app holds one (`draw_cache(app)`); a caller that
    passes none (the command line, a test) gets a fresh one per view, so nothing is kept."""

    def __init__(self, max_executed: int = MAX_EXECUTED, max_layers: int = MAX_LAYERS) -> None:
        self.max_executed = max_executed
        self.max_layers = max_layers
        self._lock = threading.Lock()
        self._executed: dict[tuple, Located] = {}
        self._without_key: dict[tuple, tuple] = {}
        self._layers: dict[tuple, Layer] = {}

    @staticmethod
    def _trim(held: dict, limit: int) -> None:
        while len(held) > limit:
            held.pop(next(iter(held)))

    def executed(self, key: tuple) -> Located | None:
        with self._lock:
            return self._executed.get(key)

    def keep_executed(self, key: tuple, located: Located) -> None:
        with self._lock:
            self._executed[key] = located
            self._trim(self._executed, self.max_executed)

    def without_key(self, key: tuple) -> tuple | None:
        """(stamp, columns): the columns to ask for when the person key could not be joined
        for the snapshot and person index of `stamp`."""
        with self._lock:
            return self._without_key.get(key)

    def keep_without_key(self, key: tuple, stamp: tuple, columns: tuple[str, ...]) -> None:
        with self._lock:
            self._without_key[key] = (stamp, columns)
            self._trim(self._without_key, self.max_executed)

    def layer(self, key: tuple) -> Layer | None:
        with self._lock:
            return self._layers.get(key)

    def keep_layer(self, key: tuple, layer: Layer) -> None:
        with self._lock:
            self._layers[key] = layer
            self._trim(self._layers, self.max_layers)

    def clear(self) -> None:
        with self._lock:
            self._executed.clear()
            self._layers.clear()
            self._without_key.clear()

    def sizes(self) -> dict[str, int]:
        with self._lock:
            return {
                "executed": len(self._executed),
                "layers": len(self._layers),
                "without_key": len(self._without_key),
            }


def draw_cache(app) -> DrawCache:
    """The app's cache (on `app.state`), made on first use."""
    found = getattr(app.state, APP_STATE, None)
    if found is None:
        with _app_lock:
            found = getattr(app.state, APP_STATE, None)
            if found is None:
                found = DrawCache()
                setattr(app.state, APP_STATE, found)
    return found


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
        postcode = norm_postcode(source.rows[row].get(source.reader.postcode))
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


def draw_layer(
    session: Session,
    settings: Settings,
    actor: Actor,
    incident: Incident,
    cache: DrawCache | None = None,
) -> Layer:
    """Every dataset the incident's agreement shares that this actor may have now, decided,
    executed (or taken from `cache` under an identical grant of an unchanged snapshot) and
    placed; what was refused is in `withheld` with the reason."""
    cache = cache if cache is not None else DrawCache()
    # One read of partners and active agreements for the five decisions of this view (each
    # dataset is still decided in full, by decide(), on every view).
    with governance_read(session):
        return _draw_governed(session, settings, actor, incident, cache)


def _draw_governed(
    session: Session, settings: Settings, actor: Actor, incident: Incident, cache: DrawCache
) -> Layer:
    from civicshare.datasets import service as datasets

    version = active_version(session, incident.agreement)
    if version is None or not version.emergency:
        raise IncidentError(
            f"{incident.agreement} is not an emergency agreement in force today: nothing is "
            "shared.",
            status=403,
        )
    gaz = gazetteer(settings)
    purpose = share_purpose_code(version)
    wanted = sorted({(item.provider_key, item.dataset) for item in version.shared_items})
    wanted = [(provider_key, dataset) for provider_key, dataset in wanted if dataset in RULES]
    snapshots = datasets.current_snapshots(session, wanted, settings)  # one query for all
    sources, withheld, keys = [], [], []
    for provider_key, dataset in wanted:
        drawn = _source(
            _Ask(session, settings, actor, incident, cache, gaz, withheld, purpose),
            provider_key,
            dataset,
            snapshots[(provider_key, dataset)],
        )
        if drawn is not None:
            sources.append(drawn[0])
            keys.append(drawn[1])
    layer = _layer_of(sources, keys, gaz, cache)
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


@dataclass
class _Ask:
    """What every dataset of one view is asked with."""

    session: Session
    settings: Settings
    actor: Actor
    incident: Incident
    cache: DrawCache
    gaz: Gazetteer
    withheld: list[Withheld]
    purpose: str  # the code of the agreement's permitted purpose the incident draws under

    def request(self, provider_key: str, dataset: str, columns=None) -> ShareRequest:
        return ShareRequest(
            actor=self.actor,
            purpose=self.purpose,
            note=share_purpose(self.incident),
            provider=provider_key,
            dataset=dataset,
            agreement=self.incident.agreement,
            incident=self.incident.reference,
            columns=columns,
        )

    def withhold(self, provider_key: str, dataset: str, decision) -> None:
        self.withheld.append(Withheld(provider_key, dataset, decision.reason, decision.clause))


def _source(ask: _Ask, provider_key: str, dataset: str, snapshot) -> tuple[Located, tuple] | None:
    """One dataset: decided on every view; executed unless the cache holds the same grant of
    the same snapshot. None when withheld (the reason appended to ask.withheld)."""
    settings = ask.settings
    # When the person key could not be joined for this snapshot and person index, ask
    # without it straight away (one decision per dataset per view, as always).
    hint_key = (ask.incident.agreement, provider_key, dataset, ask.actor.partner_key)
    stamp = (snapshot.file_sha256 if snapshot else None, _mapping_stamp(settings))
    hint = ask.cache.without_key(hint_key)
    request = ask.request(
        provider_key, dataset, hint[1] if hint is not None and hint[0] == stamp else None
    )
    decision = decide(ask.session, request)
    if not decision.allowed:
        ask.withhold(provider_key, dataset, decision)
        return None
    if snapshot is None:
        ask.withheld.append(
            Withheld(
                provider_key, dataset, f"{provider_key} has not pushed {dataset}.", "no snapshot"
            )
        )
        return None

    def key_of(grant) -> tuple:
        return _grant_key(grant, snapshot.version) + (
            str(snapshot.data_path),
            snapshot.file_sha256,
            _person_index_stamp(settings, grant),
        )

    key = key_of(decision.grant)
    located = ask.cache.executed(key)
    if located is not None:
        return located, key
    executed = _execute(ask, request, decision, hint_key, stamp)
    if executed is None:
        return None
    delivered, decision = executed
    key = key_of(decision.grant)
    located = _place(ask, provider_key, dataset, delivered, decision, snapshot)
    ask.cache.keep_executed(key, located)
    return located, key


def _execute(ask: _Ask, request: ShareRequest, decision, hint_key: tuple, stamp: tuple):
    """(delivered, the decision it was delivered under), or None when withheld. When the
    person key cannot be joined, the households matter more than the join: ask again without
    it (remembered in the cache until the snapshot or the person index changes)."""
    provider_key, dataset = request.provider, request.dataset
    granted = [c.column for c in decision.grant.columns]
    try:
        return delivery.share(ask.session, ask.settings, request, via="incident"), decision
    except delivery.Denied as error:
        if PERSON_KEY not in granted or error.decision.clause != "cannot execute":
            ask.withhold(provider_key, dataset, error.decision)
            return None
    except Exception:
        if PERSON_KEY not in granted:
            raise
        log.exception("%s/%s with the person key failed", provider_key, dataset)
    columns = tuple(c for c in granted if c != PERSON_KEY)
    ask.cache.keep_without_key(hint_key, stamp, columns)
    request = ask.request(provider_key, dataset, columns)
    decision = decide(ask.session, request)
    if not decision.allowed:
        ask.withhold(provider_key, dataset, decision)
        return None
    try:
        return delivery.share(ask.session, ask.settings, request, via="incident"), decision
    except delivery.Denied as again:
        ask.withhold(provider_key, dataset, again.decision)
        return None


def _place(ask: _Ask, provider_key: str, dataset: str, delivered, decision, snapshot) -> Located:
    """The delivered rows with a need and a place, placed on the map."""
    reader = reader_for(snapshot.contract)
    placed = _locate(delivered.table, reader, ask.gaz)
    rows = placed["rows"]
    verified = []
    for row in rows:
        value = row.get(reader.verified) if reader.verified else None
        verified.append(str(value)[:10] if value else snapshot.created_at.date().isoformat())
    provider = partners.get_by_key(ask.session, provider_key)
    return Located(
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
        reader=reader,
    )


def _layer_of(sources: list[Located], keys: list[tuple], gaz: Gazetteer, cache: DrawCache) -> Layer:
    """The sources' records as one layer, people joined and indexed (cached by their keys)."""
    layer_key = (tuple(keys), len(gaz))
    layer = cache.layer(layer_key)
    if layer is not None:
        return layer
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
    cache.keep_layer(layer_key, layer)
    return layer


def _mapping_stamp(settings: Settings) -> float:
    path = settings.data_dir / PERSON_INDEX
    return path.stat().st_mtime if path.is_file() else 0.0


def _person_index_stamp(settings: Settings, grant) -> float | None:
    """When the grant carries the person key, its tokens depend on the person index's mapping
    file: a new mapping must not be answered from memory."""
    if PERSON_KEY not in {c.column for c in grant.columns}:
        return None
    return _mapping_stamp(settings)
