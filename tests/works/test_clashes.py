"""Clashes on labelled scenarios, each with its exact outcome: dates that touch, adjacent
streets, works at exactly 25 m and at 25.5 m, zero-length works, lines that cross without a
shared USRN, and diversions routed onto closed paths."""

from __future__ import annotations

import pytest

from civicshare.works.brute import brute_force_clashes
from civicshare.works.engine import coordinate
from tests.works.scenarios import day, line, point, work


def clashes(*works, **options):
    found = coordinate(works, **options)
    assert list(found.clashes) == brute_force_clashes(
        works, options.get("tolerance_m", 25.0), options.get("traffic")
    )
    return [(c.work_reference_number_a, c.work_reference_number_b, c.kind) for c in found.clashes]


def only_clash(*works, **options):
    found = coordinate(works, **options).clashes
    assert len(found) == 1, found
    return found[0]


# ---- dates -----------------------------------------------------------------------------------


def test_dates_that_touch_clash_on_the_shared_day():
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(300, 0), "2027-03-05", "2027-03-09", usrn=1001)
    clash = only_clash(a, b)
    assert clash.kind == "same_street"
    assert (clash.overlap_start, clash.overlap_end) == (day("2027-03-05"), day("2027-03-05"))
    assert clash.distance_m == 300.0


def test_the_day_after_the_end_is_no_clash():
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(0, 0), "2027-03-06", "2027-03-09", usrn=1001)
    assert clashes(a, b) == []


def test_the_overlap_is_the_days_both_works_share():
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-31", usrn=1001)
    b = work("TSR-2", point(5, 0), "2027-03-10", "2027-03-12", usrn=1002)
    clash = only_clash(a, b)
    assert (clash.overlap_start, clash.overlap_end) == (day("2027-03-10"), day("2027-03-12"))


# ---- distance --------------------------------------------------------------------------------


def test_adjacent_streets_20_m_apart_are_nearby():
    a = work("TSR-1", line(0, 0, 100, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", line(0, 20, 100, 20), "2027-03-01", "2027-03-05", usrn=1002)
    clash = only_clash(a, b)
    assert (clash.kind, clash.distance_m) == ("nearby", 20.0)


def test_adjacent_streets_30_m_apart_do_not_clash():
    a = work("TSR-1", line(0, 0, 100, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", line(0, 30, 100, 30), "2027-03-01", "2027-03-05", usrn=1002)
    assert clashes(a, b) == []


@pytest.mark.parametrize(("gap", "expected"), [(25.0, [("TSR-1", "TSR-2", "nearby")]), (25.5, [])])
def test_exactly_25_m_clashes_and_25_5_m_does_not(gap, expected):
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(gap, 0), "2027-03-01", "2027-03-05", usrn=1002)
    assert clashes(a, b) == expected


def test_the_tolerance_is_configurable():
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(25.5, 0), "2027-03-01", "2027-03-05", usrn=1002)
    assert clashes(a, b, tolerance_m=25.5) == [("TSR-1", "TSR-2", "nearby")]
    assert clashes(a, b, tolerance_m=10) == []


def test_a_zero_length_line_is_a_place_like_a_point():
    zero = line(10, 10, 10, 10)
    assert zero.length == 0
    a = work("TSR-1", zero, "2027-03-01", "2027-03-05", usrn=1001)
    near = work("TSR-2", point(10, 35), "2027-03-01", "2027-03-05", usrn=1002)
    far = work("TSR-3", line(10, -15.5, 50, -15.5), "2027-03-01", "2027-03-05", usrn=1003)
    assert clashes(a, near, far) == [("TSR-1", "TSR-2", "nearby")]
    assert only_clash(a, near).distance_m == 25.0


def test_two_points_at_the_same_place_clash_at_0_m():
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(0, 0), "2027-03-03", "2027-03-04", path_id="BRO-FP12")
    clash = only_clash(a, b)
    assert (clash.kind, clash.distance_m) == ("nearby", 0.0)


def test_lines_that_cross_without_a_shared_usrn_are_nearby_at_0_m():
    a = work("TSR-1", line(0, 0, 200, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", line(100, -100, 100, 100), "2027-03-01", "2027-03-05", usrn=1002)
    clash = only_clash(a, b)
    assert (clash.kind, clash.distance_m) == ("nearby", 0.0)


def test_a_polygon_measures_from_its_edge():
    square = point(0, 0).buffer(10, cap_style="square")  # 20 m square around the point
    a = work("TSR-1", square, "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(35, 0), "2027-03-01", "2027-03-05", usrn=1002)
    assert only_clash(a, b).distance_m == 25.0


def test_the_same_street_far_apart_clashes_and_so_does_the_same_path():
    a = work("TSR-1", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    b = work("TSR-2", point(900, 0), "2027-03-01", "2027-03-05", usrn=1001)
    c = work("ROW-1", point(0, 500), "2027-03-01", "2027-03-05", path_id="BRO-FP12")
    d = work("ROW-2", point(0, 900), "2027-03-01", "2027-03-05", path_id="BRO-FP12")
    assert clashes(a, b, c, d) == [
        ("ROW-1", "ROW-2", "same_street"),
        ("TSR-1", "TSR-2", "same_street"),
    ]


def test_a_pair_is_listed_once_with_a_before_b_by_reference():
    z = work("Z-9", point(0, 0), "2027-03-01", "2027-03-05", usrn=1001)
    a = work("A-1", point(1, 0), "2027-03-01", "2027-03-05", usrn=1001)
    assert clashes(z, a) == [("A-1", "Z-9", "same_street")]


# ---- diversions ------------------------------------------------------------------------------

PATH = line(0, 0, 200, 0)  # a footpath, closed by ROW-1
# A road closure 300 m north whose diversion runs along the footpath for 200 m.
DIVERTED = line(0, 300, 200, 300)
ONTO_PATH = line(0, 300, 0, 0).union(PATH).union(line(200, 0, 200, 300))


def path_closure(start="2027-03-01", end="2027-03-10", location=PATH):
    return work(
        "ROW-1", location, start, end, path_id="BRO-FP12", closure=True,
        traffic_management_type="road_closure", excavation=False,
    )  # fmt: skip


def road_closure(route=ONTO_PATH, start="2027-03-05", end="2027-03-15"):
    return work(
        "TSR-1", DIVERTED, start, end, usrn=1001, closure=True,
        traffic_management_type="road_closure", diversion_route=route,
    )  # fmt: skip


def test_a_diversion_onto_a_closed_path_is_a_high_clash():
    clash = only_clash(path_closure(), road_closure())
    assert clash.kind == "diversion_onto_closure"
    assert clash.severity == "high"
    assert clash.pair == ("ROW-1", "TSR-1")
    assert (clash.overlap_start, clash.overlap_end) == (day("2027-03-05"), day("2027-03-10"))
    assert clash.distance_m == 300.0  # between the two works' own locations


def test_a_diversion_onto_a_path_closed_only_on_other_dates_is_nothing():
    assert clashes(path_closure("2027-04-01", "2027-04-10"), road_closure()) == []


def test_a_diversion_onto_a_path_that_stays_open_is_nothing():
    open_path = work("ROW-1", PATH, "2027-03-01", "2027-03-10", path_id="BRO-FP12")
    assert clashes(open_path, road_closure()) == []


def test_a_diversion_that_only_crosses_a_closed_path_is_not_routed_onto_it():
    crossing = line(100, 300, 100, -300)  # 4 m of it within 2 m of the path: under 10 m
    assert clashes(path_closure(), road_closure(crossing)) == []


def test_a_diversion_within_2_m_of_a_point_closure_is_routed_onto_it():
    gate = path_closure(location=point(100, 1.5))
    assert clashes(gate, road_closure()) == [("ROW-1", "TSR-1", "diversion_onto_closure")]
    gate = path_closure(location=point(100, 2.5))
    assert clashes(gate, road_closure()) == []


def test_diversion_wins_over_same_street():
    closed = work(
        "TSR-0", line(0, 0, 200, 0), "2027-03-01", "2027-03-10", usrn=1001, closure=True,
        traffic_management_type="road_closure",
    )  # fmt: skip
    assert clashes(closed, road_closure()) == [("TSR-0", "TSR-1", "diversion_onto_closure")]


def test_a_diversion_onto_a_zero_length_closure_is_found():
    """STRtree's own dwithin query misses a zero-length line; the engine queries boxes."""
    stile = path_closure(location=line(100, 0, 100, 0))
    assert clashes(stile, road_closure()) == [("ROW-1", "TSR-1", "diversion_onto_closure")]
