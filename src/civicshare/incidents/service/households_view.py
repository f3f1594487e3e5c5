"""Households: the vulnerable households inside an incident's area, by priority then
distance, and their exports. Every view is decided, executed, logged and audited."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from civicshare import csvsafe
from civicshare.accounts.service import Actor
from civicshare.config import Settings
from civicshare.incidents.errors import IncidentError
from civicshare.incidents.gazetteer import (
    Gazetteer,
    gazetteer,
    norm_postcode,
)
from civicshare.incidents.geometry import (
    Area,
    to_wgs84,
)
from civicshare.incidents.models import (
    Incident,
    IncidentStatus,
)
from civicshare.incidents.service.common import (
    audit_incident,
    log_event,
    require_responder,
    share_purpose,
)
from civicshare.incidents.service.drawing import DrawCache, Layer, Withheld, draw_layer
from civicshare.incidents.service.incidents import area_of, may_see, unseen
from civicshare.incidents.service.priority import CATEGORIES, LABEL, RANK

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


def household_key(layer: Layer, i: int) -> str:
    """The household a placed record belongs to: its property, or its postcode."""
    uprn = layer.uprn[i]
    if uprn is not None:
        return str(uprn)
    source = layer.sources[int(layer.source_of[i])]
    row = source.rows[int(layer.row_of[i])]
    return "postcode:" + norm_postcode(row.get(source.reader.postcode))


def _households(layer: Layer, area: Area, gaz: Gazetteer) -> list[dict]:
    inside = layer.index.within(area)
    groups: dict[str, dict] = {}
    for i in inside:
        source = layer.sources[int(layer.source_of[i])]
        row = int(layer.row_of[i])
        uprn = layer.uprn[i]
        x, y = float(layer.x[i]), float(layer.y[i])
        key = household_key(layer, i)
        house = groups.get(key)
        if house is None:
            if uprn is not None:
                at = gaz.find_uprn(uprn)
                address, postcode = gaz.address[at], gaz.postcode[at]
            else:
                postcode = str(source.rows[row].get(source.reader.postcode) or "").upper()
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


def compute_households(
    session: Session,
    settings: Settings,
    actor: Actor,
    incident: Incident,
    cache: DrawCache | None = None,
):
    require_responder(actor)
    if not may_see(session, actor, incident):
        raise unseen(session, actor, incident)
    if incident.status != IncidentStatus.open:
        raise IncidentError(f"{incident.reference} is closed: nothing more is shared.", status=409)
    area = area_of(incident)
    layer = draw_layer(session, settings, actor, incident, cache)
    gaz = gazetteer(settings)
    return area, layer, gaz, _households(layer, area, gaz)


def households(
    session: Session,
    settings: Settings,
    actor: Actor,
    incident: Incident,
    *,
    via: str = "api",
    cache: DrawCache | None = None,
) -> Households:
    """The vulnerable households in the incident's area, by priority then distance. Audited.
    `cache`: the app's executed rows (draw_cache(app)); none, and nothing is kept."""
    area, layer, gaz, houses = compute_households(session, settings, actor, incident, cache)
    counts = {key: 0 for key, _ in CATEGORIES}
    for house in houses:
        for need in house["needs"]:
            counts[need] += 1
    properties = int(gaz.index.within(area).size)
    digest = _digest(houses)
    datasets = sorted({f"{s.provider_key}/{s.dataset}" for s in layer.sources})
    log_event(
        session,
        incident,
        actor,
        "viewed",
        f"{actor.label} saw {len(houses)} households ({via})",
        households=len(houses),
        datasets=datasets,
        via=via,
    )
    audit_incident(
        session,
        actor,
        "incident_households_viewed",
        incident,
        purpose=share_purpose(incident),
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
    log_event(
        session,
        incident,
        actor,
        "exported",
        f"{actor.label} exported {fmt}",
        households=len(result.households),
        format=fmt,
    )
    audit_incident(
        session,
        actor,
        "incident_exported",
        incident,
        row_count=len(result.households),
        output_sha256=result.output_sha256,
        outcome="allowed",
        details={"format": fmt},
    )
