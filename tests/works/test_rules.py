"""Severity, Section 58 restrictions, collaboration opportunities and traffic counts, each on a
labelled scenario with its exact outcome; and the engine equals brute force on random sets."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicshare.works.brute import brute_force_clashes
from civicshare.works.engine import coordinate
from civicshare.works.models import TRAFFIC_MANAGEMENT_TYPES, TrafficCounts
from tests.works.scenarios import day, line, point, work

# ---- severity --------------------------------------------------------------------------------


def pair(tm: str, sensitive: bool = False, usrn: int = 1001, **fields):
    return [
        work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=usrn,
             traffic_management_type=tm, traffic_sensitive=sensitive, **fields),
        work("TSR-2", point(10, 0), "2027-03-03", "2027-03-09", usrn=usrn + 1,
             traffic_management_type=tm, **fields),
    ]  # fmt: skip


def severity(works, traffic=None) -> tuple[str, int]:
    (clash,) = coordinate(works, traffic=traffic).clashes
    return clash.severity, clash.points


def test_severity_orders_road_closures_above_signals_above_give_and_take():
    assert severity(pair("road_closure")) == ("high", 8)
    assert severity(pair("two_way_signals")) == ("medium", 4)
    assert severity(pair("give_and_take")) == ("low", 2)
    assert severity(pair("no_c_way_incursion")) == ("low", 0)


def test_a_traffic_sensitive_street_adds_two_points():
    assert severity(pair("lane_closure", sensitive=True)) == ("medium", 6)
    assert severity(pair("contra_flow", sensitive=True)) == ("high", 8)


def counts(usrn: int, on: str, busiest: int) -> TrafficCounts:
    """One street counted on one day: 100 vehicles an hour, `busiest` at 08:00."""
    hours = np.arange(24)
    vehicles = np.where(hours == 8, busiest, 100)
    return TrafficCounts.from_arrays([usrn] * 24, [day(on)] * 24, hours, vehicles)


def test_the_busiest_hour_counted_during_the_overlap_raises_severity():
    works = pair("give_and_take")
    assert severity(works, counts(1001, "2027-03-04", 1000)) == ("medium", 5)
    assert severity(works, counts(1002, "2027-03-04", 650)) == ("medium", 4)
    assert severity(works, counts(1001, "2027-03-04", 199)) == ("low", 2)


def test_the_reasons_say_where_the_points_came_from():
    (clash,) = coordinate(
        pair("road_closure", sensitive=True), traffic=counts(1001, "2027-03-04", 520)
    ).clashes
    assert clash.reasons == (
        "a: road_closure (+4)",
        "b: road_closure (+4)",
        "traffic-sensitive street (+2)",
        "busiest hour 520 vehicles (+2)",
    )


def test_traffic_counts_fall_back_to_the_typical_busiest_hour():
    traffic = TrafficCounts.from_arrays(
        [7] * 4,
        [day("2027-01-04")] * 2 + [day("2027-01-05")] * 2,
        [8, 17, 8, 17],
        [300, 900, 500, 700],
    )
    assert traffic.busiest_hour(7, day("2027-01-04"), day("2027-01-04")) == 900
    assert traffic.busiest_hour(7, day("2027-01-05"), day("2027-01-09")) == 700
    assert traffic.busiest_hour(7, day("2027-03-01"), day("2027-03-05")) == 800  # mean at 17:00
    assert traffic.busiest_hour(8, day("2027-01-04"), day("2027-01-04")) is None


# ---- Section 58 ------------------------------------------------------------------------------


def resurfacing(**fields):
    values = {"usrn": 1001, "works_category": "major", "activity_type": "Carriageway resurfacing",
              "excavation": False, "street_name": "Mill Lane"}  # fmt: skip
    values.update(fields)
    return work("HWY-1", line(0, 0, 300, 0), "2027-03-01", "2027-03-31", **values)


def test_excavation_after_major_resurfacing_breaches_section_58():
    dig = work("TSR-9", point(50, 0), "2027-06-01", "2027-06-03", usrn=1001)
    found = coordinate([resurfacing(), dig])
    (breach,) = found.restrictions
    assert breach.work_reference_number == "TSR-9"
    assert breach.protecting_work_reference_number == "HWY-1"
    assert (breach.usrn, breach.street_name) == (1001, "Mill Lane")
    assert (breach.protected_from, breach.protected_until) == (day("2027-04-01"), day("2032-03-31"))


def test_immediate_works_are_exempt_from_section_58():
    burst = work(
        "TSR-9", point(50, 0), "2027-06-01", "2027-06-01", usrn=1001, works_category="immediate"
    )
    assert coordinate([resurfacing(), burst]).restrictions == ()


def test_section_58_protection_has_edges():
    def breaches(start: str, **fields) -> int:
        dig = work("TSR-9", point(50, 0), start, start, **({"usrn": 1001} | fields))
        return len(coordinate([resurfacing(), dig]).restrictions)

    assert breaches("2027-03-31") == 0  # during the resurfacing: a clash, not a breach
    assert breaches("2027-04-01") == 1
    assert breaches("2032-03-31") == 1
    assert breaches("2032-04-01") == 0
    assert breaches("2027-06-01", usrn=1002) == 0
    assert breaches("2027-06-01", excavation=False) == 0
    assert len(coordinate([resurfacing()], restriction_years=0).restrictions) == 0


def test_only_major_resurfacing_or_reconstruction_protects_a_street():
    dig = work("TSR-9", point(50, 0), "2027-06-01", "2027-06-03", usrn=1001)
    assert coordinate([resurfacing(works_category="standard"), dig]).restrictions == ()
    assert coordinate([resurfacing(activity_type="New connection"), dig]).restrictions == ()
    assert (
        len(coordinate([resurfacing(activity_type="Footway Reconstruction"), dig]).restrictions)
        == 1
    )


# ---- opportunities -----------------------------------------------------------------------------


def test_excavations_30_days_apart_are_an_opportunity_and_31_are_not():
    first = work(
        "TSR-1", point(0, 0), "2027-03-01", "2027-03-10", usrn=1001, street_name="Mill Lane"
    )
    at_30 = work("TSR-2", point(80, 0), "2027-04-09", "2027-04-22", usrn=1001)
    at_31 = work("TSR-3", point(80, 0), "2027-04-10", "2027-04-12", usrn=1001)
    (found,) = coordinate([first, at_30]).opportunities
    assert (found.work_reference_number_a, found.work_reference_number_b) == ("TSR-1", "TSR-2")
    assert (found.usrn, found.street_name, found.gap_days) == (1001, "Mill Lane", 30)
    # From the earlier start, as long as the longer work (14 days).
    assert (found.suggested_start, found.suggested_end) == (day("2027-03-01"), day("2027-03-14"))
    assert coordinate([first, at_31]).opportunities == ()
    assert len(coordinate([first, at_31], opportunity_days=31).opportunities) == 1


def test_no_opportunity_without_excavation_or_for_emergencies_or_across_streets():
    first = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-10", usrn=1001)
    later = dict(start="2027-03-20", end="2027-03-22")
    for fields in ({"excavation": False}, {"works_category": "immediate"}, {"usrn": 1002}):
        other = work(
            "TSR-2", point(80, 0), later["start"], later["end"], **({"usrn": 1001} | fields)
        )
        assert coordinate([first, other]).opportunities == ()


# ---- the engine is the brute force ----------------------------------------------------------


@st.composite
def random_works(draw):
    count = draw(st.integers(0, 14))
    works = []
    for k in range(count):
        x, y = draw(st.integers(0, 8)) * 12.5, draw(st.integers(0, 8)) * 12.5
        shape = draw(st.sampled_from(["point", "line", "zero", "square"]))
        if shape == "point":
            location = point(x, y)
        elif shape == "zero":
            location = line(x, y, x, y)
        elif shape == "line":
            location = line(x, y, x + draw(st.sampled_from([0, 25, 60])), y + 25)
        else:
            location = point(x, y).buffer(5, cap_style="square")
        start = date(2027, 3, 1) + timedelta(days=draw(st.integers(0, 20)))
        length = draw(st.integers(0, 6))
        on_path = draw(st.booleans())
        diversion = None
        if draw(st.integers(0, 3)) == 0:
            diversion = line(
                x, y + 30, draw(st.integers(0, 8)) * 12.5, draw(st.integers(0, 8)) * 12.5
            )
        works.append(
            work(
                f"W{k:02d}", location, start.isoformat(),
                (start + timedelta(days=length)).isoformat(),
                usrn=None if on_path else 1000 + draw(st.integers(0, 3)),
                path_id=f"FP{draw(st.integers(0, 2))}" if on_path else None,
                closure=draw(st.booleans()), diversion_route=diversion,
                traffic_management_type=draw(st.sampled_from(TRAFFIC_MANAGEMENT_TYPES)),
                traffic_sensitive=draw(st.booleans()),
            )
        )  # fmt: skip
    return works


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_works(), st.sampled_from([0.0, 12.5, 25.0, 25.5]))
def test_the_engine_finds_exactly_the_clashes_brute_force_finds(works, tolerance):
    assert list(coordinate(works, tolerance_m=tolerance).clashes) == brute_force_clashes(
        works, tolerance
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 40), st.integers(0, 23), st.integers(0, 2000)),
        max_size=60,
    ),
    st.lists(st.tuples(st.integers(0, 5), st.integers(-5, 45), st.integers(0, 20)), min_size=1),
)
def test_busiest_hours_in_windows_are_the_plain_maximum(rows, windows):
    """The sparse table of daily maxima answers every window as a plain scan would."""
    origin = date(2027, 1, 1)
    traffic = TrafficCounts.from_arrays(
        [r[0] for r in rows],
        [origin + timedelta(days=r[1]) for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
    )
    for usrn, offset, length in windows:
        start = origin + timedelta(days=offset)
        end = start + timedelta(days=length)
        inside = [r[3] for r in rows if r[0] == usrn and offset <= r[1] <= offset + length]
        on_street = [r for r in rows if r[0] == usrn]
        if inside:
            expected = max(inside)
        elif on_street:
            by_hour: dict[int, list[int]] = {}
            for r in on_street:
                by_hour.setdefault(r[2], []).append(r[3])
            expected = round(max(sum(v) / len(v) for v in by_hour.values()))
        else:
            expected = None
        assert traffic.busiest_hour(usrn, start, end) == expected
