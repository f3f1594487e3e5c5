"""Building works for the labelled scenarios: one work in a line, defaults a planner would
not think about (a standard excavation with two-way signals, not traffic-sensitive)."""

from __future__ import annotations

from datetime import date

from shapely import wkt

from civicshare.works.models import Work

# A street in the synthetic county, National Grid metres.
X, Y = 385_000.0, 255_000.0


def line(x0: float, y0: float, x1: float, y1: float):
    return wkt.loads(f"LINESTRING ({X + x0} {Y + y0}, {X + x1} {Y + y1})")


def point(x: float, y: float):
    return wkt.loads(f"POINT ({X + x} {Y + y})")


def day(text: str) -> date:
    return date.fromisoformat(text)


def work(reference: str, location, start: str, end: str, **fields) -> Work:
    values = {
        "promoter": "Cadent",
        "usrn": None,
        "path_id": None,
        "street_name": None,
        "works_category": "standard",
        "activity_type": "New connection",
        "traffic_management_type": "two_way_signals",
        "excavation": True,
        "traffic_sensitive": False,
        "closure": False,
        "diversion_route": None,
    }
    values.update(fields)
    return Work(
        work_reference_number=reference,
        location=location,
        proposed_start_date=day(start),
        proposed_end_date=day(end),
        **values,
    )
