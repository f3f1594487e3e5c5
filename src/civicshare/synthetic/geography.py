"""Synthetic geography in British National Grid metres (EPSG:27700).

A county outline near the real one, six districts (Worcester and Redditch as compact urban
districts, the other four a Voronoi partition of the rest), towns at roughly their real positions
and generated villages, streets with USRNs as short straight LineStrings around each settlement
centre (Gaussian density, so it decays from the centre), properties with UPRNs along both sides of
each street, and postcodes: outward codes per settlement in the real form, sectors of a few
thousand properties, units of 8-20 neighbouring properties along one street.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from shapely.geometry import MultiPoint, Point, Polygon
from shapely.ops import nearest_points

from . import names
from .common import UNIT_LETTERS

COUNTY_OUTLINE = [
    (372000, 282000),
    (385000, 284500),
    (398000, 281500),
    (408500, 277000),
    (412500, 268000),
    (411500, 258000),
    (418000, 246000),
    (415500, 235000),
    (405000, 231500),
    (392000, 233500),
    (383000, 236000),
    (375000, 237500),
    (369500, 246000),
    (366000, 256000),
    (364500, 266000),
    (363500, 273000),
    (366000, 279500),
]


@dataclass
class TownSpec:
    name: str
    x: float
    y: float
    share: float  # share of the district's population
    codes: list[tuple[str, float | None]]  # outward code and bearing (None = central)


@dataclass
class DistrictSpec:
    key: str
    name: str
    share: float  # share of the county population
    real_pop: int  # used only for settlement footprints, independent of N
    towns: list[TownSpec]
    rural_codes: list[tuple[str, float | None]] = field(default_factory=list)
    n_villages: int = 0
    voronoi_seeds: list[tuple[float, float]] = field(default_factory=list)
    circle: tuple[float, float, float] | None = None


DISTRICTS: list[DistrictSpec] = [
    DistrictSpec(
        "bromsgrove",
        "Bromsgrove",
        0.166,
        100_000,
        [
            TownSpec("Bromsgrove", 396000, 270500, 0.36, [("B60", 135.0), ("B61", 315.0)]),
            TownSpec("Catshill", 395800, 273800, 0.07, [("B61", None)]),
            TownSpec("Hagley", 391500, 280000, 0.06, [("DY9", None)]),
            TownSpec("Wythall", 406500, 275500, 0.09, [("B47", None)]),
            TownSpec("Alvechurch", 402800, 272500, 0.06, [("B48", None)]),
            TownSpec("Rubery", 399000, 278500, 0.08, [("B45", None)]),
        ],
        [("B60", 135.0), ("B61", 315.0)],
        22,
        voronoi_seeds=[(397000, 273000), (404000, 277500)],
    ),
    DistrictSpec(
        "malvern-hills",
        "Malvern Hills",
        0.133,
        80_000,
        [
            TownSpec("Malvern", 378000, 246000, 0.40, [("WR14", None)]),
            TownSpec("Tenbury Wells", 366500, 267500, 0.05, [("WR15", None)]),
            TownSpec("Upton upon Severn", 385000, 240500, 0.04, [("WR8", None)]),
            TownSpec("Martley", 375500, 259800, 0.03, [("WR6", None)]),
        ],
        [("WR6", 0.0), ("WR13", 180.0), ("WR15", 315.0)],
        40,
        voronoi_seeds=[(372000, 252000), (368000, 268000), (380000, 240000)],
    ),
    DistrictSpec(
        "redditch",
        "Redditch",
        0.144,
        87_000,
        [
            TownSpec("Redditch", 404000, 267500, 0.92, [("B98", 90.0), ("B97", 270.0)]),
            TownSpec("Astwood Bank", 404200, 262900, 0.08, [("B96", None)]),
        ],
        circle=(404300, 266600, 4800),
    ),
    DistrictSpec(
        "worcester",
        "Worcester",
        0.172,
        104_000,
        [
            TownSpec(
                "Worcester",
                385000,
                255000,
                1.0,
                [("WR1", None), ("WR3", 0.0), ("WR4", 90.0), ("WR5", 180.0), ("WR2", 270.0)],
            )
        ],
        circle=(385000, 255000, 5200),
    ),
    DistrictSpec(
        "wychavon",
        "Wychavon",
        0.216,
        130_000,
        [
            TownSpec("Droitwich Spa", 389800, 263400, 0.25, [("WR9", None)]),
            TownSpec("Evesham", 403800, 243800, 0.21, [("WR11", None)]),
            TownSpec("Pershore", 395000, 245700, 0.06, [("WR10", None)]),
            TownSpec("Broadway", 409300, 237700, 0.02, [("WR12", None)]),
        ],
        [("WR7", 0.0), ("WR10", 225.0), ("WR11", 135.0)],
        45,
        voronoi_seeds=[(400000, 247000), (390000, 262000), (407000, 238000), (396000, 256000)],
    ),
    DistrictSpec(
        "wyre-forest",
        "Wyre Forest",
        0.169,
        102_000,
        [
            TownSpec("Kidderminster", 383000, 276500, 0.55, [("DY10", 90.0), ("DY11", 270.0)]),
            TownSpec("Stourport-on-Severn", 381000, 271000, 0.20, [("DY13", None)]),
            TownSpec("Bewdley", 378500, 275500, 0.09, [("DY12", None)]),
        ],
        [("DY10", 45.0), ("DY11", 315.0), ("DY14", 225.0)],
        14,
        voronoi_seeds=[(379000, 275000), (374000, 281000)],
    ),
]

DISTRICT_KEYS = [d.key for d in DISTRICTS]
HR_WEST_EASTING = 369000.0  # Malvern Hills villages west of this get HR postcodes


@dataclass
class Settlement:
    name: str
    district: int  # index into DISTRICTS
    kind: str  # "town" or "village"
    x: float
    y: float
    share: float  # share of county population
    sigma: float  # footprint (m)
    codes: list[tuple[str, float | None]]
    post_town: str


def county_polygon() -> Polygon:
    return Polygon(COUNTY_OUTLINE)


def district_polygons() -> list:
    county = county_polygon()
    urban = {}
    for i, d in enumerate(DISTRICTS):
        if d.circle:
            x, y, r = d.circle
            urban[i] = Point(x, y).buffer(r, quad_segs=24).intersection(county)
    rest = county
    for poly in urban.values():
        rest = rest.difference(poly)
    seeds, owners = [], []
    for i, d in enumerate(DISTRICTS):
        for s in d.voronoi_seeds:
            seeds.append(s)
            owners.append(i)
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=county.buffer(20000))
    parts: dict[int, list] = {i: [] for i in range(len(DISTRICTS))}
    for cell in shapely.get_parts(cells):
        for s, owner in zip(seeds, owners, strict=True):
            if cell.contains(Point(s)):
                parts[owner].append(cell)
                break
    polys = []
    for i in range(len(DISTRICTS)):
        if i in urban:
            polys.append(urban[i])
        else:
            polys.append(shapely.union_all(parts[i]).intersection(rest))
    return [shapely.set_precision(p, 1.0) for p in polys]


def _village_name(rng: np.random.Generator, used: set[str]) -> str:
    for _ in range(1000):
        base = rng.choice(names.VILLAGE_PREFIXES) + rng.choice(names.VILLAGE_SUFFIXES)
        u = rng.random()
        if u < 0.12:
            name = f"{rng.choice(names.VILLAGE_QUALIFIERS_BEFORE)} {base}"
        elif u < 0.24:
            name = f"{base} {rng.choice(names.VILLAGE_QUALIFIERS_AFTER)}"
        else:
            name = base
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of village names")


def make_settlements(rng: np.random.Generator, polys: list) -> list[Settlement]:
    """Towns at their listed positions and generated villages, with population shares."""
    out: list[Settlement] = []
    used = {t.name for d in DISTRICTS for t in d.towns}
    for di, d in enumerate(DISTRICTS):
        poly = polys[di]
        inner = poly.buffer(-900)
        town_share = sum(t.share for t in d.towns)
        for t in d.towns:
            p = Point(t.x, t.y)
            if not inner.contains(p):
                p = nearest_points(inner, p)[0]
            real = t.share * d.real_pop
            out.append(
                Settlement(
                    t.name,
                    di,
                    "town",
                    p.x,
                    p.y,
                    d.share * t.share,
                    6.5 * math.sqrt(real),
                    t.codes,
                    t.name,
                )
            )
        if d.n_villages == 0:
            continue
        weights = rng.lognormal(0.0, 0.8, d.n_villages)
        weights = weights / weights.sum() * (1.0 - town_share)
        towns_here = [s for s in out if s.district == di and s.kind == "town"]
        minx, miny, maxx, maxy = inner.bounds
        placed: list[tuple[float, float]] = []
        k = 0
        while k < d.n_villages:
            x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
            if not inner.contains(Point(x, y)):
                continue
            near = [(x - s.x) ** 2 + (y - s.y) ** 2 for s in towns_here]
            if min(near) < (2.2 * max(s.sigma for s in towns_here)) ** 2 and min(near) < 4e6:
                continue
            if any((x - a) ** 2 + (y - b) ** 2 < 1.2e6 for a, b in placed):
                continue
            placed.append((x, y))
            post_town = towns_here[int(np.argmin(near))].name
            real = weights[k] * d.real_pop
            out.append(
                Settlement(
                    _village_name(rng, used),
                    di,
                    "village",
                    x,
                    y,
                    d.share * weights[k],
                    max(90.0, 6.5 * math.sqrt(real)),
                    [],
                    post_town,
                )
            )
            k += 1
    return out


def _nearest_bearing(dx: np.ndarray, dy: np.ndarray, bearings: list[float]) -> np.ndarray:
    b = np.radians(np.asarray(bearings))
    dots = dx[:, None] * np.sin(b)[None, :] + dy[:, None] * np.cos(b)[None, :]
    return np.argmax(dots, axis=1)


@dataclass
class Geography:
    districts: list  # shapely polygons, index = district index
    settlements: list[Settlement]
    streets: dict[str, np.ndarray]
    properties: dict[str, np.ndarray]
    tables: dict[str, pa.Table]


SPACING = 14.0  # metres between neighbouring properties on one side
SETBACK = 12.0  # metres from the street centre line
SECTOR_UNITS = 250  # target postcode units per sector (about 3,000 properties)


def build_geography(
    rng: np.random.Generator, polys: list, settlements: list[Settlement], n_props: np.ndarray
) -> Geography:
    """Streets and properties for each settlement; ``n_props[s]`` properties in settlement s.

    The steps draw from ``rng`` in a fixed order (streets, property positions, postcodes,
    identifiers, street names, address details): the same seed gives the same county.
    """
    for p in polys:
        shapely.prepare(p)
    st = _place_streets(rng, polys, settlements, n_props)
    front = _place_properties(rng, polys, st)
    postcode = _postcodes(rng, polys, settlements, st, front)
    # ---- identifiers and names ---------------------------------------------------------
    usrn = 38100000 + np.cumsum(rng.integers(1, 6, len(st["k"])))
    uprn = 100120000000 + np.cumsum(rng.integers(1, 30, len(front.street_of)))
    street_name = _street_names(rng, settlements, st)
    props = _property_records(rng, settlements, st, front, usrn, uprn, street_name, postcode)
    st.update({"usrn": usrn, "name": street_name, "length": front.length})
    geo = Geography(polys, settlements, st, props, {})
    geo.tables = _tables(geo)
    return geo


STREET_COLUMNS = ("settle", "x0", "y0", "x1", "y1", "k", "cx", "cy")


def _place_streets(
    rng: np.random.Generator, polys: list, settlements: list[Settlement], n_props: np.ndarray
) -> dict[str, np.ndarray]:
    """Street centre lines around each settlement holding ``n_props[s]`` properties in all.

    Columns: settle, (x0, y0)-(x1, y1) the ends, k properties, (cx, cy) the centre, district.
    """
    st_cols: dict[str, list] = {k: [] for k in STREET_COLUMNS}
    for si, s in enumerate(settlements):
        need = int(n_props[si])
        if need <= 0:
            continue
        acc = _settlement_streets(rng, polys[s.district], s, si, need)
        for key in st_cols:
            st_cols[key].append(np.concatenate(acc[key]))
    st = {k: np.concatenate(v) for k, v in st_cols.items()}
    st["district"] = np.array([settlements[i].district for i in st["settle"]])
    return st


def _settlement_streets(
    rng: np.random.Generator, poly, s: Settlement, si: int, need: int
) -> dict[str, list]:
    """Draw streets around settlement ``s`` (index ``si``) until they hold ``need`` properties.

    Each round draws a batch of candidate streets, keeps those whose band of properties lies
    inside the district ``poly``, and widens the spread when too few fit.
    """
    mean_k = 26 if s.kind == "town" and s.sigma > 700 else 12
    have = 0
    acc: dict[str, list] = {k: [] for k in STREET_COLUMNS}
    attempts = 0
    while have < need:
        attempts += 1
        m = max(4, int(math.ceil((need - have) / mean_k * 1.3)) + 2)
        spread = s.sigma * (1.0 + 0.15 * min(attempts, 8))
        cx = s.x + rng.normal(0, spread, m)
        cy = s.y + rng.normal(0, spread, m)
        k = 2 + rng.poisson(mean_k - 2, m)
        ang = rng.uniform(0, math.pi, m)
        half = (np.ceil(k / 2) * SPACING + 20.0) / 2
        ux, uy = np.cos(ang), np.sin(ang)
        x0, y0, x1, y1 = cx - ux * half, cy - uy * half, cx + ux * half, cy + uy * half
        # the four corners of the band holding the properties must lie inside the district
        nx, ny = -uy * (SETBACK + 3), ux * (SETBACK + 3)
        ok = np.ones(m, dtype=bool)
        for ax, ay in (
            (x0 + nx, y0 + ny),
            (x0 - nx, y0 - ny),
            (x1 + nx, y1 + ny),
            (x1 - nx, y1 - ny),
            (cx + nx, cy + ny),
            (cx - nx, cy - ny),
        ):
            ok &= shapely.contains_xy(poly, ax, ay)
        idx = np.flatnonzero(ok)
        if len(idx) == 0:
            continue
        cum = have + np.cumsum(k[idx])
        last = int(np.searchsorted(cum, need))  # first street reaching the need
        idx = idx[: last + 1]
        kk = k[idx].copy()
        if have + kk.sum() > need:
            kk[-1] -= have + kk.sum() - need
        for name, arr in (
            ("x0", x0),
            ("y0", y0),
            ("x1", x1),
            ("y1", y1),
            ("cx", cx),
            ("cy", cy),
        ):
            acc[name].append(arr[idx])
        acc["k"].append(kk)
        acc["settle"].append(np.full(len(idx), si))
        have += int(kk.sum())
        if attempts > 200:
            raise RuntimeError(f"could not place streets for {s.name}")
    return acc


@dataclass
class _Frontage:
    """Where each property stands on its street; one entry per property."""

    street_of: np.ndarray  # index of the property's street
    i_in: np.ndarray  # position along the street, alternating sides
    side: np.ndarray  # 0 or 1: which side of the street
    pos: np.ndarray  # number of the pair of plots along the street
    x: np.ndarray  # easting
    y: np.ndarray  # northing
    length: np.ndarray  # per street: its length in metres


def _place_properties(rng: np.random.Generator, polys: list, st: dict) -> _Frontage:
    """Properties along both sides of each street, each inside its street's district."""
    kk = st["k"].astype(np.int64)
    n_st = len(kk)
    street_of = np.repeat(np.arange(n_st), kk)
    starts = np.concatenate([[0], np.cumsum(kk)[:-1]])
    i_in = np.arange(len(street_of)) - starts[street_of]
    side = i_in % 2
    pos = i_in // 2
    dx = st["x1"] - st["x0"]
    dy = st["y1"] - st["y0"]
    length = np.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    t = 10.0 + (pos + 0.5) * SPACING + rng.uniform(-2, 2, len(pos))
    off = np.where(side == 0, 1.0, -1.0) * (SETBACK + rng.uniform(-2, 2, len(pos)))
    px = st["x0"][street_of] + ux[street_of] * t - uy[street_of] * off
    py = st["y0"][street_of] + uy[street_of] * t + ux[street_of] * off
    px, py = np.round(px, 1), np.round(py, 1)
    # final guarantee: nudge any property that fell outside its district onto the centre line
    pdist = st["district"][street_of]
    for di, poly in enumerate(polys):
        sel = np.flatnonzero(pdist == di)
        bad = sel[~shapely.contains_xy(poly, px[sel], py[sel])]
        if len(bad):
            s_of = street_of[bad]
            px[bad] = np.round(st["x0"][s_of] + ux[s_of] * t[bad], 1)
            py[bad] = np.round(st["y0"][s_of] + uy[s_of] * t[bad], 1)
    return _Frontage(street_of, i_in, side, pos, px, py, length)


# ---- postcodes ------------------------------------------------------------------------


def _postcodes(
    rng: np.random.Generator,
    polys: list,
    settlements: list[Settlement],
    st: dict,
    front: _Frontage,
) -> np.ndarray:
    """A full postcode ('WR1 2AB') for each property: outward code, sector digit, unit letters."""
    kk = st["k"].astype(np.int64)
    street_of = front.street_of
    outward = _outward_codes(polys, settlements, st)
    # units: each street split evenly into runs of at most 8-20 neighbouring properties
    unit_size = rng.integers(8, 21, len(kk))
    n_units = np.ceil(kk / unit_size).astype(np.int64)
    unit_in_street = front.i_in * n_units[street_of] // kk[street_of]
    street_sector, street_order = _sectors(st, outward, kk, n_units)
    letters = _unit_letters(rng, front, outward, street_sector, street_order, unit_in_street)
    sector_digit = (street_sector[street_of] + 1) % 10
    postcode = (
        pc.binary_join_element_wise(
            pa.array(outward[street_of].astype(str)),
            pa.array(sector_digit.astype(str)),
            " ",
        )
        .to_numpy(zero_copy_only=False)
        .astype(object)
    )
    return np.array([a + b for a, b in zip(postcode, letters, strict=True)], dtype=object)


def _outward_codes(polys: list, settlements: list[Settlement], st: dict) -> np.ndarray:
    """The outward code of each street, by its settlement and its bearing from the centre."""
    outward = np.empty(len(st["k"]), dtype=object)
    for si, s in enumerate(settlements):
        sel = np.flatnonzero(st["settle"] == si)
        if len(sel) == 0:
            continue
        if s.kind == "town":
            codes = s.codes
            ddx, ddy = st["cx"][sel] - s.x, st["cy"][sel] - s.y
        else:
            d = DISTRICTS[s.district]
            if d.key == "malvern-hills" and s.x < HR_WEST_EASTING:
                codes = [("HR7", 0.0), ("HR8", 180.0)]
                ddx, ddy = np.zeros(len(sel)), np.full(len(sel), s.y - 247000.0)
            else:
                codes = d.rural_codes
                c = polys[s.district].centroid
                ddx, ddy = np.full(len(sel), s.x - c.x), np.full(len(sel), s.y - c.y)
        if len(codes) == 1:
            outward[sel] = codes[0][0]
            continue
        central = [c for c in codes if c[1] is None]
        directional = [c for c in codes if c[1] is not None]
        pick = _nearest_bearing(ddx, ddy, [c[1] for c in directional])
        outward[sel] = np.array([c[0] for c in directional], dtype=object)[pick]
        if central:
            inner = np.hypot(ddx, ddy) < 0.6 * s.sigma
            outward[sel[inner]] = central[0][0]
    return outward


def _sectors(
    st: dict, outward: np.ndarray, kk: np.ndarray, n_units: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(sector, order) per street: streets of one outward code in bearing order, cut into runs
    of units (at most 400 units, the number of distinct two-letter unit codes)."""
    n_st = len(kk)
    street_sector = np.zeros(n_st, dtype=np.int64)
    street_order = np.zeros(n_st, dtype=np.int64)
    order_counter = 0
    for code in sorted(set(outward)):
        sel = np.flatnonzero(outward == code)
        w = kk[sel]
        mx = np.average(st["cx"][sel], weights=w)
        my = np.average(st["cy"][sel], weights=w)
        ang = np.arctan2(st["cy"][sel] - my, st["cx"][sel] - mx)
        o = np.argsort(ang, kind="stable")
        sel = sel[o]
        total = int(n_units[sel].sum())
        size = max(SECTOR_UNITS, math.ceil(total / 10))
        cum_before = np.concatenate([[0], np.cumsum(n_units[sel])[:-1]])
        street_sector[sel] = np.minimum(cum_before // size, 9)
        street_order[sel] = order_counter + np.arange(len(sel))
        order_counter += len(sel)
    return street_sector, street_order


def _unit_letters(
    rng: np.random.Generator,
    front: _Frontage,
    outward: np.ndarray,
    street_sector: np.ndarray,
    street_order: np.ndarray,
    unit_in_street: np.ndarray,
) -> np.ndarray:
    """The two unit letters of each property's postcode, distinct within its sector."""
    street_of = front.street_of
    # order properties by (street_order, i_in): unit ordinal within (outward, sector)
    prop_order = np.lexsort((front.i_in, street_order[street_of]))
    s_sorted = street_of[prop_order]
    u_sorted = unit_in_street[prop_order]
    grp = outward[s_sorted].astype(str)
    sec_sorted = street_sector[s_sorted]
    new_unit = np.ones(len(prop_order), dtype=bool)
    new_unit[1:] = (s_sorted[1:] != s_sorted[:-1]) | (u_sorted[1:] != u_sorted[:-1])
    new_sector = np.ones(len(prop_order), dtype=bool)
    new_sector[1:] = (grp[1:] != grp[:-1]) | (sec_sorted[1:] != sec_sorted[:-1])
    unit_cum = np.cumsum(new_unit) - 1
    sector_start_unit = np.maximum.accumulate(np.where(new_sector, unit_cum, 0))
    ordinal_sorted = unit_cum - sector_start_unit
    sector_id_sorted = np.cumsum(new_sector) - 1
    n_sectors = int(sector_id_sorted[-1]) + 1
    pairs = np.array([a + b for a in UNIT_LETTERS for b in UNIT_LETTERS], dtype=object)
    perm = rng.permutation(len(pairs))
    offsets = rng.integers(0, len(pairs), n_sectors)
    letters_sorted = pairs[perm[(ordinal_sorted + offsets[sector_id_sorted]) % len(pairs)]]
    letters = np.empty(len(prop_order), dtype=object)
    letters[prop_order] = letters_sorted
    return letters


# ---- names and addresses --------------------------------------------------------------


def _street_names(rng: np.random.Generator, settlements: list[Settlement], st: dict) -> np.ndarray:
    """A street name for each street, distinct within its settlement while names last."""
    street_name = np.empty(len(st["k"]), dtype=object)
    stems = np.array(names.STREET_STEMS, dtype=object)
    suffixes = np.array(names.STREET_SUFFIXES, dtype=object)
    sw = np.array(names.STREET_SUFFIX_WEIGHTS, dtype=float)
    sw = sw / sw.sum()
    n_combo = len(stems) * len(suffixes)
    combo_w = np.repeat(np.ones(len(stems)), len(suffixes)) * np.tile(sw, len(stems))
    combo_w /= combo_w.sum()
    for si in range(len(settlements)):
        sel = np.flatnonzero(st["settle"] == si)
        if len(sel) == 0:
            continue
        take = min(len(sel), n_combo)
        combos = rng.choice(n_combo, size=take, replace=False, p=combo_w)
        if take < len(sel):
            combos = np.concatenate([combos, rng.integers(0, n_combo, len(sel) - take)])
        street_name[sel] = stems[combos // len(suffixes)] + " " + suffixes[combos % len(suffixes)]
    return street_name


def _property_records(
    rng: np.random.Generator,
    settlements: list[Settlement],
    st: dict,
    front: _Frontage,
    usrn: np.ndarray,
    uprn: np.ndarray,
    street_name: np.ndarray,
    postcode: np.ndarray,
) -> dict[str, np.ndarray]:
    """The property columns: identifiers, address lines, position, council tax band."""
    street_of, pos, side = front.street_of, front.pos, front.side
    settle_name = np.array([s.name for s in settlements], dtype=object)
    settle_kind = np.array([s.kind for s in settlements], dtype=object)
    post_town = np.array([s.post_town for s in settlements], dtype=object)
    p_settle = st["settle"][street_of]
    is_village = settle_kind[p_settle] == "village"
    named = rng.random(len(street_of)) < np.where(is_village, 0.3, 0.02)
    house_name = np.array(names.HOUSE_NAMES, dtype=object)[
        rng.integers(0, len(names.HOUSE_NAMES), len(street_of))
    ]
    number = (pos * 2 + 1 + side).astype(str).astype(object)
    sname = street_name[street_of]
    numbered = number + " " + sname
    line1 = np.where(named, house_name, numbered)
    locality = np.where(is_village, settle_name[p_settle], "")
    line2 = np.where(named, sname, locality)
    line3 = np.where(named, locality, "")
    band = np.array(list("ABCDEFGH"), dtype=object)[
        np.searchsorted(
            np.cumsum([0.2, 0.22, 0.2, 0.15, 0.11, 0.07, 0.04, 0.01]),
            rng.random(len(street_of)) * 0.999999,
            side="right",
        )
    ]
    return {
        "uprn": uprn,
        "usrn": usrn[street_of],
        "street_index": street_of,
        "house_number": np.where(named, 0, pos * 2 + 1 + side),
        "address_line_1": line1,
        "address_line_2": line2,
        "address_line_3": line3,
        "street_name": sname,
        "locality": locality,
        "post_town": post_town[p_settle],
        "postcode": postcode,
        "easting": front.x,
        "northing": front.y,
        "district": st["district"][street_of],
        "settlement": p_settle,
        "council_tax_band": band,
    }


def single_line_address(props: dict, idx: np.ndarray, upper: bool = False) -> pa.Array:
    """'12 Oak Road, Catshill, Bromsgrove' for property indices ``idx``."""
    parts = [
        pa.array(props[c][idx].astype(str))
        for c in ("address_line_1", "address_line_2", "address_line_3", "post_town")
    ]
    parts = [pc.if_else(pc.equal(p, ""), pa.scalar(None, pa.string()), p) for p in parts]
    out = pc.binary_join_element_wise(*parts, ", ", null_handling="skip")
    return pc.utf8_upper(out) if upper else out


def _tables(geo: Geography) -> dict[str, pa.Table]:
    st, pr, s = geo.streets, geo.properties, geo.settlements
    dkeys = np.array(DISTRICT_KEYS, dtype=object)
    districts = pa.table(
        {
            "district": DISTRICT_KEYS,
            "name": [d.name for d in DISTRICTS],
            "area_km2": [round(p.area / 1e6, 1) for p in geo.districts],
            "wkt": [p.wkt for p in geo.districts],
        }
    )
    wkt = [
        f"LINESTRING ({a:.1f} {b:.1f}, {c:.1f} {d:.1f})"
        for a, b, c, d in zip(st["x0"], st["y0"], st["x1"], st["y1"], strict=True)
    ]
    settle_name = np.array([x.name for x in s], dtype=object)
    streets = pa.table(
        {
            "usrn": st["usrn"],
            "street_name": st["name"].astype(str),
            "settlement": settle_name[st["settle"]].astype(str),
            "district": dkeys[st["district"]].astype(str),
            "length_m": np.round(st["length"], 1),
            "wkt": wkt,
        }
    )
    properties = pa.table(
        {
            "uprn": pr["uprn"],
            "usrn": pr["usrn"],
            "address_line_1": pr["address_line_1"].astype(str),
            "address_line_2": pr["address_line_2"].astype(str),
            "address_line_3": pr["address_line_3"].astype(str),
            "post_town": pr["post_town"].astype(str),
            "postcode": pr["postcode"].astype(str),
            "easting": pr["easting"],
            "northing": pr["northing"],
            "district": dkeys[pr["district"]].astype(str),
            "settlement": settle_name[pr["settlement"]].astype(str),
            "council_tax_band": pr["council_tax_band"].astype(str),
        }
    )
    settlements = pa.table(
        {
            "name": [x.name for x in s],
            "kind": [x.kind for x in s],
            "district": [DISTRICT_KEYS[x.district] for x in s],
            "post_town": [x.post_town for x in s],
            "easting": [round(x.x, 1) for x in s],
            "northing": [round(x.y, 1) for x in s],
        }
    )
    pcs = (
        properties.group_by(["postcode", "district"])
        .aggregate([("uprn", "count"), ("easting", "mean"), ("northing", "mean")])
        .sort_by("postcode")
    )
    pcs = pa.table(
        {
            "postcode": pcs["postcode"],
            "outward": pc.utf8_slice_codeunits(pcs["postcode"], 0, -4),
            "sector": pc.utf8_slice_codeunits(pcs["postcode"], 0, -2),
            "district": pcs["district"],
            "n_properties": pcs["uprn_count"],
            "easting": pc.round(pcs["easting_mean"], 1),
            "northing": pc.round(pcs["northing_mean"], 1),
        }
    )
    return {
        "districts": districts,
        "settlements": settlements,
        "streets": streets,
        "properties": properties,
        "postcodes": pcs,
    }


def districts_geojson(polys: list) -> dict:
    feats = []
    for d, p in zip(DISTRICTS, polys, strict=True):
        feats.append(
            {
                "type": "Feature",
                "properties": {"district": d.key, "name": d.name},
                "geometry": shapely.geometry.mapping(p),
            }
        )
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
        "features": feats,
    }
