"""Where an enquiry is, and what other services already know there.

The district comes from the partnership's reference data (maps/reference.py): a postcode's
centroid in the address gazetteer, or the point given, inside a district boundary. What other
services know comes from their own services, as the acting membership may see it (planned
road works as the public roadworks map shows them): nothing of a partner's datasets is read
here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import shapely

from civicshare.config import Settings
from civicshare.core.identity import Actor
from civicshare.enquiries.errors import EnquiryError

POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")
NEARBY_M = 100.0


@dataclass(frozen=True)
class Location:
    postcode: str  # "WR1 2AB", or "" for a point
    easting: float
    northing: float
    district: str


@dataclass(frozen=True)
class KnownHere:
    """Something another service already knows within NEARBY_M of the enquiry."""

    service: str  # "incidents" or "works"
    reference: str
    title: str
    distance_m: int
    link: str


def tidy_postcode(text: str | None) -> str:
    """'wr12ab' -> 'WR1 2AB'; '' when not a postcode's shape."""
    packed = re.sub(r"\s+", "", str(text or "").upper())
    return f"{packed[:-3]} {packed[-3:]}" if POSTCODE.match(packed) else ""


def _district_at(settings: Settings, easting: float, northing: float) -> str | None:
    from civicshare.maps import reference

    shapes = reference.district_shapes(settings)
    if len(shapes) == 0:
        raise EnquiryError(
            "The gateway has no district boundaries yet: an operator installs them with "
            "`civicshare incidents install-reference DIR`.",
            status=503,
        )
    inside = np.flatnonzero(shapely.intersects_xy(shapes, easting, northing))
    if inside.size == 0:
        return None
    return reference.districts(settings)[int(inside[0])]["district"]


def locate(
    settings: Settings,
    *,
    postcode: str | None = None,
    easting: float | None = None,
    northing: float | None = None,
) -> Location:
    """The enquiry's location and district from a postcode, or from a point (BNG metres)."""
    from civicshare.maps import reference

    if easting is not None and northing is not None:
        district = _district_at(settings, float(easting), float(northing))
        if district is None:
            raise EnquiryError(
                "That point is outside every district of the partnership.", "easting", status=422
            )
        return Location(tidy_postcode(postcode), float(easting), float(northing), district)
    if not (postcode or "").strip():
        raise EnquiryError("Give the postcode, or a point on the map.", "postcode")
    tidy = tidy_postcode(postcode)
    if not tidy:
        raise EnquiryError("Enter a real postcode, like WR1 2AB.", "postcode")
    centroid = reference.postcode_centre(settings, tidy)
    if centroid is None:
        raise EnquiryError(
            f"{tidy} is not a postcode in the partnership's area.", "postcode", status=422
        )
    district = _district_at(settings, *centroid)
    if district is None:
        raise EnquiryError(
            f"{tidy} is outside every district of the partnership.", "postcode", status=422
        )
    return Location(tidy, float(centroid[0]), float(centroid[1]), district)


def known_here(session, settings: Settings, actor: Actor, enquiry) -> list[KnownHere]:
    """What other services already know within NEARBY_M of the enquiry, as the acting
    membership may see it (each service's own rules decide), nearest first."""
    from civicshare.incidents import service as incidents

    if enquiry.easting is None or enquiry.northing is None:
        return []
    found = []
    for incident in incidents.list_for(session, actor):
        if incident.status.value != "open":
            continue
        area = incidents.area_of(incident)
        if area.kind == "circle":  # exact, not the buffered polygon drawn for display
            centre_m = float(
                np.hypot(enquiry.easting - area.origin[0], enquiry.northing - area.origin[1])
            )
            distance = max(0.0, centre_m - area.radius_m)
        else:
            distance = float(
                shapely.distance(area.shape, shapely.Point(enquiry.easting, enquiry.northing))
            )
        if distance <= NEARBY_M:
            found.append(
                KnownHere(
                    "incidents",
                    incident.reference,
                    incident.title,
                    round(distance),
                    f"/incidents/{incident.reference}",
                )
            )
    found += works_here(session, settings, enquiry)
    return sorted(found, key=lambda known: known.distance_m)


def works_here(session, settings: Settings, enquiry) -> list[KnownHere]:
    """Planned road works within NEARBY_M that have not ended: what the public roadworks map
    shows (works are public; read under the street works agreement as the map reads them)."""
    from datetime import date

    from civicshare.works import service as works

    try:
        public = works.public_programme(session, settings)
    except works.WorksError:  # no street authority configured here: nothing known
        return []
    here = shapely.Point(enquiry.easting, enquiry.northing)
    link = f"/roadworks?postcode={enquiry.postcode}" if enquiry.postcode else "/roadworks"
    return [
        KnownHere(
            "works",
            work.work_reference_number,
            f"{work.activity_type} on {work.street_name or work.street} by "
            f"{public.promoter_name(work.work_reference_number) or work.promoter}, "
            f"{work.proposed_start_date:%-d %b %Y} to {work.proposed_end_date:%-d %b %Y}",
            round(float(work.location.distance(here))),
            link,
        )
        for work in works.near(
            public, enquiry.easting, enquiry.northing, NEARBY_M, since=date.today()
        )
    ]
