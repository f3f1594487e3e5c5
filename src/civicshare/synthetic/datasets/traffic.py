"""Traffic counts from the county's sensor network (lamppost sensors on its main streets).

Which streets are busy is a pure function of the geography (no random draws), so the works
programme and the counts agree on it without sharing a random stream.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ..common import REF_DATE, rng_for
from ..geography import Geography
from .base import COUNTY, Context

COUNTED_SHARE = 0.03  # of streets carry a counting sensor
MIN_COUNTED = 5
MAX_COUNTED = 400  # keeps the file to about half a million rows at a million residents
TRAFFIC_SENSITIVE_SHARE = 0.15
WEEKS = 52
COUNT_COLUMNS = ["usrn", "count_date", "hour", "vehicles"]

# Share of the street's peak hour in each hour of the day: two commuter peaks on weekdays, one
# broad late-morning hump at weekends.
WEEKDAY_PROFILE = np.array(
    [0.04, 0.02, 0.02, 0.02, 0.05, 0.15, 0.45, 0.85, 1.0, 0.7, 0.55, 0.55]
    + [0.6, 0.6, 0.6, 0.7, 0.85, 0.95, 0.75, 0.5, 0.35, 0.25, 0.15, 0.08]
)
WEEKEND_PROFILE = np.array(
    [0.08, 0.05, 0.03, 0.02, 0.02, 0.04, 0.08, 0.15, 0.3, 0.45, 0.55, 0.6]
    + [0.62, 0.6, 0.55, 0.5, 0.48, 0.45, 0.4, 0.32, 0.25, 0.2, 0.15, 0.1]
)
SUNDAY_FACTOR = 0.8


def street_busyness(geo: Geography) -> np.ndarray:
    """A score per street: long streets in towns carry the most traffic."""
    st = geo.streets
    town = np.array([s.kind == "town" for s in geo.settlements])[st["settle"]]
    return st["length"] * np.where(town, 3.0, 1.0) + st["k"]


def busiest_streets(geo: Geography) -> np.ndarray:
    """Street indices, busiest first (ties broken by USRN)."""
    return np.lexsort((geo.streets["usrn"], -street_busyness(geo)))


def counted_streets(geo: Geography) -> np.ndarray:
    """The streets with a counting sensor, busiest first."""
    n = len(geo.streets["usrn"])
    k = min(n, MAX_COUNTED, max(MIN_COUNTED, math.ceil(n * COUNTED_SHARE)))
    return busiest_streets(geo)[:k]


def traffic_sensitive(geo: Geography) -> np.ndarray:
    """Per street: designated traffic-sensitive (the busiest share, and every counted one)."""
    n = len(geo.streets["usrn"])
    flags = np.zeros(n, dtype=bool)
    k = max(len(counted_streets(geo)), math.ceil(n * TRAFFIC_SENSITIVE_SHARE))
    flags[busiest_streets(geo)[:k]] = True
    return flags


def count_dates() -> np.ndarray:
    """One day a week through the programme's year, the weekday moving on by one each week."""
    w = np.arange(WEEKS)
    return REF_DATE + 7 * w + (w % 7)


def traffic_counts(ctx: Context) -> dict:
    """`traffic-counts`: vehicles per hour on the counted streets, one sampled day a week."""
    geo = ctx.geo
    rng = rng_for(ctx.seed, "dataset:traffic-counts")
    streets = counted_streets(geo)
    dates = count_dates()
    # the busiest street peaks near 1,200 vehicles an hour, the least busy counted near 300
    rank = np.arange(len(streets)) / max(1, len(streets) - 1)
    peak = (1200 - 900 * rank) * rng.uniform(0.85, 1.15, len(streets))
    weekday = (dates.astype(np.int64) + 3) % 7  # 0 Monday .. 6 Sunday
    profile = np.where(
        (weekday >= 5)[:, None],
        WEEKEND_PROFILE[None, :] * np.where(weekday == 6, SUNDAY_FACTOR, 1.0)[:, None],
        WEEKDAY_PROFILE[None, :],
    )  # (days, 24)
    mean = peak[:, None, None] * profile[None, :, :]
    noise = rng.lognormal(0.0, 0.1, mean.shape)
    vehicles = rng.poisson(mean * noise)
    s_idx, d_idx, hour = np.meshgrid(
        np.arange(len(streets)), np.arange(len(dates)), np.arange(24), indexing="ij"
    )
    usrn = geo.streets["usrn"][streets][s_idx.ravel()]
    order = np.lexsort((hour.ravel(), d_idx.ravel(), usrn))
    table = pa.table(
        {
            "usrn": pa.array(usrn[order]),
            "count_date": pa.array(dates[d_idx.ravel()][order], type=pa.date32()),
            "hour": pa.array(hour.ravel()[order]),
            "vehicles": pa.array(vehicles.ravel()[order]),
        }
    )
    file = "datasets/traffic-counts.csv"
    pacsv.write_csv(table, ctx.out / file)
    entry = {
        "partner": COUNTY,
        "name": "traffic-counts",
        "title": "Traffic counts from the lamppost sensor network",
        "file": file,
        "format": "csv",
        "rows": table.num_rows,
        "columns": COUNT_COLUMNS,
        "record_id": None,
        "error_rates": {},
        "error_counts": {},
    }
    ctx.entries.append(entry)
    return entry
