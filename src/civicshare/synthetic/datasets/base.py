"""What every partner dataset builder shares: formatting helpers, the context, records, the
mess steps applied by ``prepare`` and the ``Writer`` that shuffles, assigns ids and writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..common import rng_for
from ..geography import Geography
from ..mess import Mess, MessRates
from ..people import Population

COUNTY = "worcestershire-cc"


# --------------------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------------------
def s_arr(values) -> pa.Array:
    """Object/str numpy array to an Arrow string array (None stays null)."""
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def date_arr(dates: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(dates, dtype="datetime64[D]"), type=pa.date32(), from_pandas=True)


def fmt_date(dates: np.ndarray, fmt: str, strip_zero: bool = False) -> pa.Array:
    ts = date_arr(dates).cast(pa.timestamp("s"))
    out = pc.strftime(ts, format=fmt, locale="C")
    if strip_zero:
        out = pc.replace_substring_regex(out, pattern="^0", replacement="")
    return out


def fmt_nhs(nhs: np.ndarray, spaced: bool = False) -> pa.Array:
    s = pa.array(nhs.astype(str), type=pa.string())
    if spaced:
        s = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(s, 0, 3),
            pc.utf8_slice_codeunits(s, 3, 6),
            pc.utf8_slice_codeunits(s, 6, 10),
            " ",
        )
    return pc.if_else(pa.array(nhs < 0), pa.scalar(None, pa.string()), s)


def yn(flags: np.ndarray, yes: str = "Y", no: str = "N") -> pa.Array:
    return s_arr(np.where(flags, yes, no))


def blank_to_null(a: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(a, ""), pa.scalar(None, pa.string()), a)


def join_names(*parts: np.ndarray, sep: str = " ") -> np.ndarray:
    """Join name parts element-wise, skipping blanks, as an object array."""
    arrs = [blank_to_null(s_arr(p)) for p in parts]
    out = pc.binary_join_element_wise(*arrs, sep, null_handling="skip")
    return np.asarray(out.to_numpy(zero_copy_only=False), dtype=object)


def titles(pop: Population, person: np.ndarray) -> np.ndarray:
    P = pop.p
    male = P["male"][person]
    married = (P["role"][person] == 1) | (P["maiden_surname"][person] != "")
    age = P["age"][person]
    female_t = np.where(married, "Mrs", np.where(age < 30, "Miss", "Ms"))
    t = np.where(male, "Mr", female_t)
    t = np.where(age < 16, np.where(male, "Master", "Miss"), t)
    return t.astype(object)


# --------------------------------------------------------------------------------------
# context, records and writer
# --------------------------------------------------------------------------------------
@dataclass
class Context:
    seed: int
    pop: Population
    geo: Geography
    spells: dict
    rates: MessRates
    out: Path
    entries: list = field(default_factory=list)
    last_ids: np.ndarray | None = None
    sensitive_streets: np.ndarray | None = None  # per street: traffic-sensitive (works)
    discount: Any = None  # discount_planted.DiscountPlan, drawn before GP and district files


@dataclass
class Records:
    """The canonical (then messed) values of one dataset's records."""

    ctx: Context
    name: str
    cols: dict[str, np.ndarray]
    mess: Mess
    rng: np.random.Generator
    dup_of: np.ndarray
    v: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def person(self) -> np.ndarray:
        return self.cols["person"]

    @property
    def n(self) -> int:
        return len(self.cols["person"])


def prepare(
    ctx: Context,
    name: str,
    person: np.ndarray,
    extra: dict | None = None,
    *,
    dead_retained: np.ndarray | None = None,
    dead_eligible: int = 0,
    duplicate: bool = True,
    address: bool = True,
    surname_change: bool = True,
    nickname: bool = True,
    typo: bool = True,
    dob: bool = True,
    nhs: bool = True,
) -> Records:
    rng = rng_for(ctx.seed, "dataset:" + name)
    P = ctx.pop.p
    cols = {"person": np.asarray(person, dtype=np.int64), **(extra or {})}
    if dead_retained is not None:
        cols["_dead"] = dead_retained
    m = Mess(rng, ctx.rates, len(person))
    dup_of = m.duplicate(cols) if duplicate else np.full(len(person), -1)
    if dead_retained is not None:
        m.note("deceased_retained", cols.pop("_dead") & (dup_of < 0), dead_eligible)
    rec = Records(ctx, name, cols, m, rng, dup_of)
    p = rec.person
    v = rec.v
    v["forename"] = P["forename"][p].copy()
    v["middle"] = P["middle"][p].copy()
    v["surname"] = P["surname"][p].copy()
    if surname_change:
        v["surname"] = m.surnames(
            v["surname"], P["maiden_surname"][p], P["recent_surname_change"][p]
        )
    v["prop"] = cols.get("prop", P["property"][p]).copy()
    if address:
        prev = cols.get("prev_prop", P["prev_property"][p])
        v["prop"] = m.address(v["prop"], prev)
    if nickname:
        v["forename"] = m.nickname(v["forename"])
    if typo:
        v["forename"], v["surname"] = m.typo(v["forename"], v["surname"])
    v["dob"] = P["dob"][p].copy()
    if dob:
        v["dob"] = m.date_swap(v["dob"])
    v["nhs"] = P["nhs"][p].copy()
    if nhs:
        v["nhs"] = m.nhs(v["nhs"])
    return rec


def postcode(rec: Records, typo: bool = True) -> np.ndarray:
    pcs = rec.ctx.geo.properties["postcode"][rec.v["prop"]]
    return rec.mess.postcode(pcs) if typo else pcs


class Writer:
    """Shuffles rows, assigns record ids, writes the dataset and its truth, records the entry."""

    @staticmethod
    def finish(
        rec: Records | None,
        ctx: Context,
        *,
        partner: str,
        name: str,
        title: str,
        fmt: str,
        id_col: str,
        id_fmt: str,
        columns: dict[str, pa.Array | np.ndarray],
        n: int | None = None,
        truth_extra: dict | None = None,
        ids: np.ndarray | None = None,
        perm: np.ndarray | None = None,
    ) -> dict:
        n = rec.n if rec is not None else int(n or 0)
        rng = rec.rng if rec is not None else rng_for(ctx.seed, "dataset:" + name)
        if perm is None:
            perm = rng.permutation(n)
        if ids is None:
            ids = np.array([id_fmt.format(i + 1) for i in range(n)], dtype=object)
        # ids[j] is the id of the record now at row j; row j holds original row perm[j]
        id_of_orig = np.empty(n, dtype=object)
        id_of_orig[perm] = ids
        data = {id_col: s_arr(ids)}
        for k, col in columns.items():
            arr = col if isinstance(col, pa.Array | pa.ChunkedArray) else s_arr(col)
            data[k] = arr.take(pa.array(perm)) if n else arr
        table = pa.table(data)
        ext = "parquet" if fmt == "parquet" else "csv"
        file = f"datasets/{name}.{ext}"
        path = ctx.out / file
        if fmt == "parquet":
            pq.write_table(table, path, compression="zstd")
        else:
            pacsv.write_csv(table, path)
        entry = {
            "partner": partner,
            "name": name,
            "title": title,
            "file": file,
            "format": ext,
            "rows": n,
            "columns": list(table.column_names),
            "record_id": id_col,
            "error_rates": {},
            "error_counts": {},
        }
        if rec is not None:
            P = ctx.pop.p
            p = rec.person[perm]
            rates, counts = rec.mess.summary()
            entry["error_rates"] = rates
            entry["error_counts"] = counts
            dup = rec.dup_of[perm]
            truth = {
                "record_id": s_arr(ids),
                "person_id": pa.array(p + 1),
                "household_id": pa.array(P["household"][p] + 1),
                "uprn": pa.array(ctx.geo.properties["uprn"][P["property"][p]]),
                "duplicate_of": s_arr(np.where(dup >= 0, id_of_orig[np.maximum(dup, 0)], None)),
            }
            for k, flags in rec.mess.flags.items():
                truth[f"err_{k}"] = pa.array(flags[perm])
            for k, v in (truth_extra or {}).items():
                truth[k] = pa.array(np.asarray(v)[perm]) if not isinstance(v, pa.Array) else v
            pq.write_table(pa.table(truth), ctx.out / "truth" / f"{name}.parquet")
            entry["truth"] = f"truth/{name}.parquet"
        ctx.entries.append(entry)
        ctx.last_ids = id_of_orig
        return entry


def living_with_dead(
    ctx: Context, candidates: np.ndarray, stage: str
) -> tuple[np.ndarray, np.ndarray, int]:
    """From candidate person indices keep the living, and the dead at ``deceased_retained``."""
    P = ctx.pop.p
    died = P["died"][candidates]
    rng = rng_for(ctx.seed, "deceased:" + stage)
    keep_dead = died & (rng.random(len(candidates)) < ctx.rates.deceased_retained)
    keep = ~died | keep_dead
    return candidates[keep], keep_dead[keep], int(died.sum())


def district_of_prop(ctx: Context, prop: np.ndarray) -> np.ndarray:
    return ctx.geo.properties["district"][prop]
