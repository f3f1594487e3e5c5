"""Every partner's datasets, each in that partner's own column names, formats and quirks.

A builder picks the people the partner would hold, runs the mess steps that make sense for that
source (a death register is not stale about addresses; an electoral register holds no date of
birth), formats the columns the partner's way, shuffles the rows, assigns the partner's own record
ids and hands the table and its truth to ``Writer``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .common import REF_DATE, rng_for
from .geography import DISTRICT_KEYS, DISTRICTS, Geography, single_line_address
from .mess import Mess, MessRates
from .outcomes import FEATURES
from .partnership import DISTRICT_PARTNER
from .people import ETHNIC_GROUP, HTYPE_NAMES, Population

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


# --------------------------------------------------------------------------------------
# health: ICB, acute trust, community trust
# --------------------------------------------------------------------------------------
def practice_codes(ctx: Context, prop: np.ndarray) -> np.ndarray:
    """A fictional GP practice code per property (a few practices per settlement)."""
    pr = ctx.geo.properties
    settle = pr["settlement"][prop]
    return np.char.add("M9", np.char.zfill((settle * 3 + pr["usrn"][prop] % 3).astype(str), 4))


def gp_registrations(ctx: Context) -> None:
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "select:gp")
    cand = np.flatnonzero(rng.random(ctx.pop.n) < 0.97)
    person, dead, n_dead = living_with_dead(ctx, cand, "gp")
    rec = prepare(ctx, "gp-registrations", person, dead_retained=dead, dead_eligible=n_dead)
    v, m = rec.v, rec.mess
    pcs = postcode(rec)
    given, family, middle = v["forename"].copy(), v["surname"].copy(), v["middle"].copy()
    m.case([given, family])
    m.whitespace([given, family])
    pr = ctx.geo.properties
    p = rec.person
    reg_date = np.maximum(P["dob"][p], REF_DATE - rng.integers(30, 365 * 25, rec.n))
    Writer.finish(
        rec,
        ctx,
        partner="hw-icb",
        name="gp-registrations",
        title="GP registrations (all registered patients)",
        fmt="parquet",
        id_col="registration_id",
        id_fmt="GPR{:08d}",
        columns={
            "nhs_number": fmt_nhs(v["nhs"]),
            "given_name": given,
            "other_given_names": blank_to_null(s_arr(middle)),
            "family_name": family,
            "date_of_birth": date_arr(v["dob"]),
            "gender": s_arr(np.where(P["male"][p], "male", "female")),
            "address_line_1": pr["address_line_1"][v["prop"]],
            "address_line_2": blank_to_null(s_arr(pr["address_line_2"][v["prop"]])),
            "address_line_3": blank_to_null(s_arr(pr["address_line_3"][v["prop"]])),
            "post_town": pr["post_town"][v["prop"]],
            "postcode": pcs,
            "practice_code": practice_codes(ctx, P["property"][p]).astype(object),
            "registration_date": date_arr(reg_date),
            "ethnic_category": P["ethnic"][p],
            "phone": blank_to_null(s_arr(P["phone"][p])),
        },
    )


def efi_category(cfs: np.ndarray) -> np.ndarray:
    return np.select([cfs <= 3, cfs == 4, cfs <= 6], ["Fit", "Mild", "Moderate"], "Severe").astype(
        object
    )


def over_65_register(ctx: Context) -> None:
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "select:gp")  # the same registered population as GP registrations
    cand = np.flatnonzero(rng.random(ctx.pop.n) < 0.97)
    cand = cand[P["age"][cand] >= 65]
    person, dead, n_dead = living_with_dead(ctx, cand, "o65")
    rec = prepare(ctx, "over-65-register", person, dead_retained=dead, dead_eligible=n_dead)
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    fn, sn = v["forename"].copy(), v["surname"].copy()
    m.case([fn, sn])
    m.whitespace([fn, sn])
    Writer.finish(
        rec,
        ctx,
        partner="hw-icb",
        name="over-65-register",
        title="Register of patients aged 65 and over, with frailty",
        fmt="csv",
        id_col="register_id",
        id_fmt="O65-{:07d}",
        columns={
            "nhs_number": fmt_nhs(v["nhs"]),
            "forename": fn,
            "surname": sn,
            "dob": fmt_date(v["dob"], "%Y-%m-%d"),
            "sex_code": s_arr(np.where(P["male"][p], "1", "2")),
            "postcode": pcs,
            "practice_code": practice_codes(ctx, P["property"][p]).astype(object),
            "efi_category": efi_category(P["cfs"][p]),
            "lives_alone": s_arr(np.where(P["lives_alone"][p], "1", "0")),
            "dementia_register": s_arr(np.where(P["dementia"][p], "1", "0")),
            "home_oxygen": s_arr(np.where(P["home_oxygen"][p], "1", "0")),
        },
    )


def acute_admissions(ctx: Context) -> None:
    S = ctx.spells
    P = ctx.pop.p
    n0 = len(S["person"])
    rows = np.arange(n0)
    rec = prepare(ctx, "acute-admissions", S["person"], {"spell": rows})
    v, m, p = rec.v, rec.mess, rec.person
    sp = rec.cols["spell"]
    pcs = postcode(rec)
    sn = np.array([s.upper() for s in v["surname"]], dtype=object)
    fn = np.array([s.upper() for s in v["forename"]], dtype=object)
    m.case([fn, sn])
    m.whitespace([fn, sn])
    rng = rec.rng
    admit_t = S["admit"][sp].astype("datetime64[m]") + rng.integers(0, 24 * 60, rec.n)
    disch_t = S["discharge"][sp].astype("datetime64[m]") + rng.integers(8 * 60, 20 * 60, rec.n)
    disch_t = np.maximum(disch_t, admit_t + 30)
    ts = pa.array(admit_t.astype("datetime64[s]")), pa.array(disch_t.astype("datetime64[s]"))
    cfs_rec = np.where(S["age"][sp] >= 65, S["cfs"][sp].astype(str), None)
    pathway = np.where(S["pathway"][sp] >= 0, S["pathway"][sp].astype(str), None)
    hospital_by_district = {
        "worcester": 0,
        "malvern-hills": 0,
        "wychavon": 0,
        "redditch": 1,
        "bromsgrove": 1,
        "wyre-forest": 2,
    }
    hosp_codes = np.array(["R9W01", "R9W02", "R9W03"], dtype=object)
    dmap = np.array([hospital_by_district[k] for k in DISTRICT_KEYS])
    hosp = hosp_codes[dmap[ctx.geo.properties["district"][P["property"][p]]]]
    pr = ctx.geo.properties
    truth_extra = {
        "spell_index": sp,
        "readmission": S["readmission"][sp],
    }
    Writer.finish(
        rec,
        ctx,
        partner="worcs-acute",
        name="acute-admissions",
        title="Inpatient spells: admissions and discharges",
        fmt="csv",
        id_col="SPELL_ID",
        id_fmt="SP{:09d}",
        columns={
            "NHS_NO": fmt_nhs(v["nhs"], spaced=True),
            "PAT_SURNAME": sn,
            "PAT_FORENAME": fn,
            "DOB": fmt_date(v["dob"], "%Y%m%d"),
            "SEX": s_arr(np.where(P["male"][p], "M", "F")),
            "ADDR1": s_arr(np.char.upper(pr["address_line_1"][v["prop"]].astype(str))),
            "POSTCODE": pcs,
            "SITE_CODE": hosp,
            "ADMIT_DT": pc.strftime(ts[0], format="%Y-%m-%d %H:%M"),
            "DISCH_DT": pc.strftime(ts[1], format="%Y-%m-%d %H:%M"),
            "LOS_DAYS": pa.array(S["los"][sp]),
            "ADMIT_METHOD": S["method"][sp].astype(object),
            "SPECIALTY": S["specialty"][sp],
            "CFS_SCORE": cfs_rec.astype(object),
            "DISCH_METHOD": s_arr(np.where(S["died_in_hospital"][sp], "4", "1")),
            "DISCH_PATHWAY": pathway.astype(object),
            "READMIT_30D": yn(S["readmitted"][sp]),
        },
        truth_extra=truth_extra,
    )


def discharge_outcomes(ctx: Context, spell_ids: np.ndarray) -> None:
    """truth/discharge_outcomes.parquet: one row per spell (originals, not duplicates)."""
    S = ctx.spells
    cols = {
        "SPELL_ID": s_arr(spell_ids),
        "person_id": pa.array(S["person"] + 1),
        "modelled": pa.array(S["eligible"]),
        "pathway": pa.array(np.where(S["pathway"] >= 0, S["pathway"], None), type=pa.int8()),
    }
    for k in range(4):
        cols[f"p_pathway_{k}"] = pa.array(S["pi"][:, k], from_pandas=True)
    cols["p_new_care_package_30d"] = pa.array(S["p_pkg"], from_pandas=True)
    cols["p_new_care_package_30d_given_pathway"] = pa.array(
        S["p_pkg_given_pathway"], from_pandas=True
    )
    cols["new_care_package_30d"] = pa.array(S["new_pkg"])
    cols["p_readmit_30d"] = pa.array(S["p_readmit"])
    cols["readmitted_30d"] = pa.array(S["readmitted"])
    cols["is_readmission"] = pa.array(S["readmission"])
    for j, f in enumerate(FEATURES):
        cols[f"x_{f}"] = pa.array(S["x"][:, j])
    pq.write_table(pa.table(cols), ctx.out / "truth" / "discharge_outcomes.parquet")


COMMUNITY_SERVICES = {
    "oxygen": "Home Oxygen Assessment and Review Service",
    "dn": "District Nursing",
    "physio": "Community Physiotherapy",
    "mh": "Community Mental Health Team",
    "falls": "Falls Prevention",
}


def community_health(ctx: Context) -> None:
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "select:community")
    n = ctx.pop.n
    u = rng.random((n, 5))
    age, cfs = P["age"], P["cfs"]
    picks = {
        "oxygen": P["home_oxygen"],
        "dn": (age >= 65) & (u[:, 1] < np.where(cfs >= 6, 0.4, np.where(cfs == 5, 0.12, 0.01))),
        "physio": (age >= 18) & P["mobility"] & (u[:, 2] < 0.08),
        "mh": P["mental_health"] & (u[:, 3] < 0.3),
        "falls": (age >= 70) & (u[:, 4] < 0.02 + 0.03 * (cfs >= 5)),
    }
    person = np.concatenate([np.flatnonzero(v) for v in picks.values()])
    service = np.concatenate(
        [np.full(int(v.sum()), COMMUNITY_SERVICES[k], dtype=object) for k, v in picks.items()]
    )
    died = P["died"][person]
    rng2 = rng_for(ctx.seed, "deceased:community")
    keep_dead = died & (rng2.random(len(person)) < ctx.rates.deceased_retained)
    keep = ~died | keep_dead
    person, service, dead = person[keep], service[keep], keep_dead[keep]
    rec = prepare(
        ctx,
        "community-health",
        person,
        {"service": service},
        dead_retained=dead,
        dead_eligible=int(died.sum()),
    )
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    fn, sn = v["forename"].copy(), v["surname"].copy()
    m.case([fn, sn])
    m.whitespace([fn, sn])
    svc = rec.cols["service"]
    oxy = svc == COMMUNITY_SERVICES["oxygen"]
    flow = np.where(oxy, np.round(rec.rng.choice([0.5, 1, 1.5, 2, 3, 4], rec.n), 1), np.nan)
    referral = np.maximum(P["dob"][p], REF_DATE - rec.rng.integers(1, 365 * 4, rec.n))
    Writer.finish(
        rec,
        ctx,
        partner="hw-health-care",
        name="community-health",
        title="Community health referrals, including home oxygen",
        fmt="parquet",
        id_col="referral_id",
        id_fmt="CH{:08d}",
        columns={
            "nhs_number": fmt_nhs(v["nhs"]),
            "patient_forename": fn,
            "patient_surname": sn,
            "dob": fmt_date(v["dob"], "%d-%b-%Y"),
            "gender": s_arr(np.where(P["male"][p], "Male", "Female")),
            "address_line_1": ctx.geo.properties["address_line_1"][v["prop"]],
            "postcode": pcs,
            "service": svc,
            "referral_date": date_arr(referral),
            "home_oxygen": pa.array(oxy | (P["home_oxygen"][p])),
            "oxygen_flow_lpm": pa.array(flow, from_pandas=True),
        },
    )


# --------------------------------------------------------------------------------------
# county council: adult social care, death registrations, highways, rights of way
# --------------------------------------------------------------------------------------
SUPPORT_REASONS = np.array(
    [
        "Physical Support",
        "Sensory Support",
        "Support with Memory and Cognition",
        "Learning Disability Support",
        "Mental Health Support",
        "Social Support",
    ],
    dtype=object,
)


def adult_social_care(ctx: Context) -> None:
    """asc-clients and asc-care-packages (Client ID links the two)."""
    P = ctx.pop.p
    S = ctx.spells
    rng = rng_for(ctx.seed, "select:asc")
    existing = np.flatnonzero(P["care_package"])
    new_sp = np.flatnonzero(S["new_pkg"])
    new_start = S["discharge"][new_sp] + rng.integers(1, 31, len(new_sp))
    ok = new_start <= REF_DATE
    new_sp, new_start = new_sp[ok], new_start[ok]
    assessed = np.flatnonzero((P["age"] >= 65) & (rng.random(ctx.pop.n) < 0.01))
    clients = np.unique(np.concatenate([existing, S["person"][new_sp], assessed]))
    rec = prepare(ctx, "asc-clients", clients)
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    sn = np.array([s.upper() for s in v["surname"]], dtype=object)
    fn = v["forename"].copy()
    m.case([fn, sn])
    m.whitespace([fn, sn])
    reason = np.select(
        [
            P["learning_disability"][p],
            P["dementia"][p],
            P["mental_health"][p] & (P["age"][p] < 65),
            P["sight"][p] | P["hearing"][p],
        ],
        [SUPPORT_REASONS[3], SUPPORT_REASONS[2], SUPPORT_REASONS[4], SUPPORT_REASONS[1]],
        SUPPORT_REASONS[0],
    ).astype(object)
    reason = np.where(rec.rng.random(rec.n) < 0.05, SUPPORT_REASONS[5], reason)
    client_name = join_names(sn, fn, sep=", ")
    perm = rec.rng.permutation(rec.n)
    ids = np.array(
        [f"{i:06d}" for i in rng.choice(900000, rec.n, replace=False) + 100000], dtype=object
    )
    id_of_orig = np.empty(rec.n, dtype=object)
    id_of_orig[perm] = ids
    status = np.where(P["died"][p], "Closed", "Open")
    Writer.finish(
        rec,
        ctx,
        partner=COUNTY,
        name="asc-clients",
        title="Adult social care clients",
        fmt="csv",
        id_col="Client ID",
        id_fmt="",
        ids=ids,
        perm=perm,
        columns={
            "Client Name": client_name,
            "Date of Birth": fmt_date(v["dob"], "%d/%m/%Y"),
            "Gender": s_arr(np.where(P["male"][p], "Male", "Female")),
            "Address": single_line_address(ctx.geo.properties, v["prop"]),
            "Post Code": pcs,
            "NHS Number": fmt_nhs(v["nhs"]),
            "Primary Support Reason": reason,
            "Client Status": status.astype(object),
        },
    )

    # packages: for each client, the first (non-duplicate) record's Client ID
    orig_rows = np.flatnonzero(rec.dup_of < 0)
    client_id_of_person = dict(zip(p[orig_rows].tolist(), id_of_orig[orig_rows], strict=True))
    ex_p = existing
    ex_start = REF_DATE - rng.integers(40, 365 * 6, len(ex_p))
    ex_start = np.maximum(ex_start, P["dob"][ex_p] + 18 * 365)
    ex_end = np.where(P["died"][ex_p], P["death_date"][ex_p], np.datetime64("NaT"))
    ex_type = np.where(
        P["cfs"][ex_p] >= 7,
        np.where(rng.random(len(ex_p)) < 0.5, "Nursing Care", "Residential Care"),
        np.where(rng.random(len(ex_p)) < 0.2, "Direct Payment", "Home Care"),
    )
    nw_p = S["person"][new_sp]
    pw = S["pathway"][new_sp]
    nw_type = np.select(
        [pw == 3, pw == 2, pw == 1],
        ["Residential Care", "Short Term Residential", "Reablement"],
        "Home Care",
    )
    nw_end = np.where(pw == 2, new_start + 42, np.datetime64("NaT")).astype("datetime64[D]")
    nw_end = np.where(
        P["died"][nw_p] & (P["death_date"][nw_p] > new_start), P["death_date"][nw_p], nw_end
    )
    pk_person = np.concatenate([ex_p, nw_p])
    pk_start = np.concatenate([ex_start, new_start]).astype("datetime64[D]")
    pk_end = np.concatenate([ex_end, nw_end]).astype("datetime64[D]")
    pk_end = np.where(pk_end < pk_start, pk_start, pk_end)
    pk_type = np.concatenate([ex_type, nw_type]).astype(object)
    home = np.isin(pk_type, ["Home Care", "Reablement"])
    hours = np.where(home, np.round(rng.gamma(3, 4, len(pk_person)), 1), np.nan)
    rate = np.where(home, 2450, np.where(pk_type == "Nursing Care", 115000, 95000))
    cost_p = np.where(home, np.round(hours * 2450), rate + rng.integers(-8000, 8000, len(rate)))
    cost_p = np.where(pk_type == "Direct Payment", rng.integers(8000, 40000, len(rate)), cost_p)
    spell_ref = np.concatenate([np.full(len(ex_p), -1), new_sp])
    cid = np.array([client_id_of_person[x] for x in pk_person.tolist()], dtype=object)
    n = len(pk_person)
    prng = rng_for(ctx.seed, "dataset:asc-care-packages")
    perm = prng.permutation(n)
    ids = np.array([f"PKG{i:07d}" for i in range(1, n + 1)], dtype=object)
    Writer.finish(
        None,
        ctx,
        partner=COUNTY,
        name="asc-care-packages",
        title="Adult social care packages",
        fmt="csv",
        id_col="Package ID",
        id_fmt="",
        ids=ids,
        perm=perm,
        n=n,
        columns={
            "Client ID": cid,
            "Service Type": pk_type,
            "Start Date": fmt_date(pk_start, "%d/%m/%Y"),
            "End Date": fmt_date(pk_end, "%d/%m/%Y"),
            "Weekly Hours": pa.array(hours, from_pandas=True),
            "Weekly Cost (£)": s_arr(np.char.mod("%.2f", cost_p / 100.0)),
        },
    )
    truth = pa.table(
        {
            "record_id": s_arr(ids),
            "person_id": pa.array(pk_person[perm] + 1),
            "spell_index": pa.array(spell_ref[perm]),
            "after_discharge": pa.array(spell_ref[perm] >= 0),
        }
    )
    pq.write_table(truth, ctx.out / "truth" / "asc-care-packages.parquet")
    ctx.entries[-1]["truth"] = "truth/asc-care-packages.parquet"


def death_registrations(ctx: Context) -> None:
    P = ctx.pop.p
    dead = np.flatnonzero(P["died"])
    rec = prepare(
        ctx,
        "death-registrations",
        dead,
        duplicate=False,
        address=False,
        nickname=False,
        surname_change=False,
    )
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    forenames = join_names(v["forename"], v["middle"])
    sn = np.array([s.upper() for s in v["surname"]], dtype=object)
    m.case([forenames])
    m.whitespace([forenames, sn])
    rng = rec.rng
    place = np.where(
        rng.random(rec.n) < 0.45,
        rng.choice(
            [
                "Worcestershire Royal Hospital",
                "Alexandra Hospital, Redditch",
                "Kidderminster Hospital",
            ],
            rec.n,
        ),
        np.where(rng.random(rec.n) < 0.6, "usual residence", "care home"),
    ).astype(object)
    reg = P["death_date"][p] + rng.integers(1, 9, rec.n)
    reg = np.minimum(reg, REF_DATE)
    Writer.finish(
        rec,
        ctx,
        partner=COUNTY,
        name="death-registrations",
        title="Death registrations (registration service)",
        fmt="csv",
        id_col="entry_number",
        id_fmt="D{:06d}",
        columns={
            "deceased_forenames": forenames,
            "deceased_surname": sn,
            "maiden_surname": blank_to_null(
                s_arr(np.char.upper(P["maiden_surname"][p].astype(str)))
            ),
            "sex": s_arr(np.where(P["male"][p], "Male", "Female")),
            "date_of_birth": fmt_date(v["dob"], "%d %B %Y", strip_zero=True),
            "date_of_death": fmt_date(P["death_date"][p], "%d %B %Y", strip_zero=True),
            "place_of_death": place,
            "usual_address": single_line_address(ctx.geo.properties, v["prop"]),
            "postcode": pcs,
            "nhs_number": fmt_nhs(v["nhs"]),
            "registration_date": fmt_date(reg, "%d/%m/%Y"),
        },
    )


# --------------------------------------------------------------------------------------
# children's trust, fire, police
# --------------------------------------------------------------------------------------
def child_protection(ctx: Context) -> None:
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "select:children")
    n = ctx.pop.n
    child = (P["age"] < 18) & ~P["died"]
    lone = ctx.pop.h["type"][P["household"]] == HTYPE_NAMES.index("lone_parent")
    u = rng.random(n)
    cin = child & (u < np.where(lone, 0.06, 0.025))
    status = np.where(rng.random(n) < 0.18, "CP", "CIN")
    lac = child & (rng.random(n) < 0.007)
    status = np.where(lac, "LAC", status)
    person = np.flatnonzero(cin | lac)
    rec = prepare(ctx, "child-protection", person, {"status": status[person].astype(object)})
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    fn, sn = v["forename"].copy(), v["surname"].copy()
    m.case([fn, sn])
    m.whitespace([fn, sn])
    st = rec.cols["status"]
    cat = rec.rng.choice(
        ["Neglect", "Emotional abuse", "Physical abuse", "Sexual abuse", "Multiple"],
        rec.n,
        p=[0.48, 0.36, 0.07, 0.04, 0.05],
    ).astype(object)
    cat = np.where(st == "CP", cat, None)
    start = np.maximum(P["dob"][p], REF_DATE - rec.rng.integers(7, 900, rec.n))
    Writer.finish(
        rec,
        ctx,
        partner="worcs-children-first",
        name="child-protection",
        title="Children in need, child protection plans and looked-after children",
        fmt="csv",
        id_col="child_ref",
        id_fmt="WCF{:07d}",
        columns={
            "forename": fn,
            "surname": sn,
            "dob": fmt_date(v["dob"], "%d.%m.%Y"),
            "gender": s_arr(np.where(P["male"][p], "M", "F")),
            "nhs_number": fmt_nhs(v["nhs"]),
            "address": single_line_address(ctx.geo.properties, v["prop"]),
            "postcode": pcs,
            "status": st,
            "cp_category": cat,
            "start_date": fmt_date(start, "%d.%m.%Y"),
        },
    )


def fire_visits(ctx: Context) -> None:
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "select:fire")
    age = P["age"]
    p_visit = (
        0.005
        + 0.05 * (age >= 65)
        + 0.25 * P["home_oxygen"]
        + 0.04 * P["smoker"] * (age >= 50)
        + 0.08 * P["dementia"]
        + 0.05 * P["lives_alone"] * (age >= 65)
    )
    hit = (age >= 18) & (rng.random(ctx.pop.n) < p_visit)
    # one occupier per household: the first selected member
    idx = np.flatnonzero(hit)
    first = np.unique(P["household"][idx], return_index=True)[1]
    person = idx[first]
    visit = REF_DATE - rng.integers(1, 365 * 3, len(person))
    ok = ~(P["died"][person] & (visit >= P["death_date"][person]))
    person, visit = person[ok], visit[ok]
    rec = prepare(
        ctx, "home-fire-safety-visits", person, {"visit": visit}, nickname=True, nhs=False
    )
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    initial = np.array([f[:1].upper() for f in v["forename"]], dtype=object)
    sn = v["surname"].copy()
    m.case([sn])
    m.whitespace([sn])
    occupier = join_names(titles(ctx.pop, p), initial, sn)
    dob_known = rec.rng.random(rec.n) < 0.6
    alarms = rec.rng.integers(0, 4, rec.n)
    Writer.finish(
        rec,
        ctx,
        partner="hw-fire",
        name="home-fire-safety-visits",
        title="Home fire safety visits",
        fmt="csv",
        id_col="visit_id",
        id_fmt="HFSV{:07d}",
        columns={
            "uprn": pa.array(ctx.geo.properties["uprn"][v["prop"]]),
            "occupier_name": occupier,
            "occupier_dob": fmt_date(
                np.where(dob_known, v["dob"], np.datetime64("NaT")), "%Y-%m-%d"
            ),
            "address": single_line_address(ctx.geo.properties, v["prop"], upper=True),
            "postcode": pcs,
            "visit_date": fmt_date(rec.cols["visit"], "%Y-%m-%d"),
            "mobility_issues": yn(P["mobility"][p]),
            "hearing_impaired": yn(P["hearing"][p]),
            "sight_impaired": yn(P["sight"][p]),
            "cognitive_impairment": yn(P["dementia"][p]),
            "smoker": yn(P["smoker"][p]),
            "uses_oxygen": yn(P["home_oxygen"][p]),
            "lives_alone": yn(P["lives_alone"][p]),
            "smoke_alarms_fitted": pa.array(alarms),
            "referral_source": rec.rng.choice(
                ["Self", "Adult Social Care", "Health", "Partner agency", "Crew referral"],
                rec.n,
            ).astype(object),
        },
    )


def police_markers(ctx: Context) -> None:
    P = ctx.pop.p
    rng = rng_for(ctx.seed, "select:police")
    n = ctx.pop.n
    u = rng.random(n)
    adult = P["age"] >= 18
    kinds = [
        ("DEMENTIA / MISSING PERSON RISK", P["dementia"] & (u < 0.25)),
        ("MENTAL HEALTH", P["mental_health"] & (u < 0.15)),
        ("LEARNING DISABILITY", P["learning_disability"] & (u < 0.3)),
        ("VULNERABLE ADULT", adult & P["lives_alone"] & (P["age"] >= 75) & (u < 0.01)),
        ("DOMESTIC ABUSE VICTIM", adult & ~P["male"] & (P["age"] < 70) & (u < 0.004)),
    ]
    person = np.concatenate([np.flatnonzero(k[1]) for k in kinds])
    mtype = np.concatenate([np.full(int(k[1].sum()), k[0], dtype=object) for k in kinds])
    died = P["died"][person]
    keep_dead = died & (rng.random(len(person)) < ctx.rates.deceased_retained)
    keep = ~died | keep_dead
    person, mtype, dead = person[keep], mtype[keep], keep_dead[keep]
    rec = prepare(
        ctx,
        "vulnerability-markers",
        person,
        {"mtype": mtype},
        nhs=False,
        dead_retained=dead,
        dead_eligible=int(died.sum()),
    )
    v, m = rec.v, rec.mess
    pcs = postcode(rec)
    sn = np.array([s.upper() for s in v["surname"]], dtype=object)
    fns = np.array([s.upper() for s in join_names(v["forename"], v["middle"])], dtype=object)
    m.case([sn, fns])
    m.whitespace([sn, fns])
    recorded = REF_DATE - rec.rng.integers(1, 365 * 5, rec.n)
    Writer.finish(
        rec,
        ctx,
        partner="west-mercia-police",
        name="vulnerability-markers",
        title="Vulnerability markers on the police records system",
        fmt="csv",
        id_col="MARKER_ID",
        id_fmt="WMP/VM/{:07d}",
        columns={
            "SURNAME": sn,
            "FORENAMES": fns,
            "DOB": fmt_date(v["dob"], "%d/%m/%Y"),
            "ADDRESS": single_line_address(ctx.geo.properties, v["prop"], upper=True),
            "POSTCODE": pcs,
            "MARKER_TYPE": rec.cols["mtype"],
            "DATE_RECORDED": fmt_date(recorded, "%d/%m/%Y"),
            "REVIEW_DATE": fmt_date(recorded + 365, "%d/%m/%Y"),
        },
    )


# --------------------------------------------------------------------------------------
# district councils: council tax, electoral register, housing tenancies (one file each)
# --------------------------------------------------------------------------------------
def _household_leads(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per household: lead person (first living adult, or the dead lead), partner, living adults."""
    P = ctx.pop.p
    hh = P["household"]
    n_h = len(ctx.pop.h["type"])
    adult = P["age"] >= 18
    alive_adult = adult & ~P["died"]
    n_adults = np.bincount(hh, weights=alive_adult, minlength=n_h).astype(np.int64)
    first = np.full(n_h, -1, dtype=np.int64)
    idx = np.flatnonzero(alive_adult)
    u, pos = np.unique(hh[idx], return_index=True)
    first[u] = idx[pos]
    head = np.full(n_h, -1, dtype=np.int64)
    hidx = np.flatnonzero(P["role"] == 0)
    head[hh[hidx]] = hidx
    partner = np.full(n_h, -1, dtype=np.int64)
    pidx = np.flatnonzero((P["role"] == 1) & ~P["died"])
    partner[hh[pidx]] = pidx
    return first, head, partner, n_adults


# each district's council tax system writes dates its own way
CT_DATE_FORMAT = {
    "worcester": "%Y-%m-%d",
    "malvern-hills": "%d/%m/%Y",
    "wychavon": "%d/%m/%Y",
    "bromsgrove": "%d-%m-%Y",
    "redditch": "%d-%m-%Y",
    "wyre-forest": "%d.%m.%Y",
}


def district_datasets(ctx: Context) -> None:
    P = ctx.pop.p
    H = ctx.pop.h
    pr = ctx.geo.properties
    first, head, partner, n_adults = _household_leads(ctx)
    n_h = len(H["type"])
    rng = rng_for(ctx.seed, "select:district")
    h_dist = pr["district"][H["property"]]
    head_dead = (head >= 0) & P["died"][np.maximum(head, 0)]
    keep_dead = head_dead & (rng.random(n_h) < ctx.rates.deceased_retained)
    lead = np.where(keep_dead, head, first)
    has_account = lead >= 0
    student = H["type"] == HTYPE_NAMES.index("students")
    social_p = np.select(
        [
            H["type"] == HTYPE_NAMES.index(t)
            for t in ("lone_parent", "single_older", "single_young", "couple_older", "students")
        ],
        [0.35, 0.22, 0.18, 0.12, 0.0],
        0.08,
    )
    social = has_account & (rng.random(n_h) < social_p)
    tenancy_start = REF_DATE - rng.integers(30, 365 * 30, n_h)
    elect_rng = rng_for(ctx.seed, "select:electoral")
    registered = (P["age"] >= 17) & (elect_rng.random(ctx.pop.n) < 0.93)
    settle_letters = np.array(
        [f"{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}" for i in range(len(ctx.geo.settlements))],
        dtype=object,
    )
    for di, d in enumerate(DISTRICTS):
        partner_key = DISTRICT_PARTNER[d.key]
        # ---- council tax ----
        hs = np.flatnonzero(has_account & (h_dist == di))
        lp = lead[hs]
        dead_here = keep_dead[hs]
        rec = prepare(
            ctx,
            f"council-tax-{d.key}",
            lp,
            {"hh": hs, "prop": H["property"][hs], "prev_prop": np.full(len(hs), -1)},
            address=False,
            nhs=False,
            dob=False,
            dead_retained=dead_here,
            dead_eligible=int((head_dead & (h_dist == di)).sum()),
        )
        v, m, p = rec.v, rec.mess, rec.person
        hsr = rec.cols["hh"]
        pcs = postcode(rec)
        fn, sn = v["forename"].copy(), v["surname"].copy()
        m.case([fn, sn])
        m.whitespace([fn, sn])
        jp = partner[hsr]
        joint = np.where(
            (jp >= 0) & (jp != p),
            join_names(
                titles(ctx.pop, np.maximum(jp, 0)),
                P["forename"][np.maximum(jp, 0)],
                P["surname"][np.maximum(jp, 0)],
            ),
            None,
        )
        stud = student[hsr]
        spd = (n_adults[hsr] == 1) & ~stud
        Writer.finish(
            rec,
            ctx,
            partner=partner_key,
            name=f"council-tax-{d.key}",
            title=f"Council tax accounts ({d.name})",
            fmt="csv",
            id_col="account_ref",
            id_fmt=f"{d.key[:3].upper()}{{:08d}}",
            columns={
                "lead_title": titles(ctx.pop, p),
                "lead_forename": fn,
                "lead_surname": sn,
                "joint_liable_name": joint.astype(object),
                "property_ref": pa.array(pr["uprn"][v["prop"]]),
                "property_address": single_line_address(pr, v["prop"]),
                "postcode": pcs,
                "band": pr["council_tax_band"][v["prop"]],
                "spd": yn(spd),
                "exemption_class": s_arr(np.where(stud, "N", "")),
                "liability_start": fmt_date(
                    np.where(
                        np.isnat(H["move_date"][hsr]), tenancy_start[hsr], H["move_date"][hsr]
                    ),
                    CT_DATE_FORMAT.get(d.key, "%d-%m-%Y"),
                ),
            },
            truth_extra={"single_adult": n_adults[hsr] == 1},
        )

        # ---- electoral register: registered where the register thinks they live ----
        cand = np.flatnonzero(registered)
        cand_all, dead_flag, _ = living_with_dead(ctx, cand, "electoral")
        rng_e = rng_for(ctx.seed, f"stale:electoral:{d.key}")
        # an elector who moved may still be registered at the old address
        prev = P["prev_property"][cand_all]
        stale = (prev >= 0) & (rng_e.random(len(cand_all)) < ctx.rates.out_of_date_address)
        where = np.where(stale, prev, P["property"][cand_all])
        here = pr["district"][where] == di
        person_e = cand_all[here]
        stale_e = stale[here]
        dead_e = dead_flag[here]
        dead_elig = int((P["died"][cand] & (pr["district"][P["property"][cand]] == di)).sum())
        rec = prepare(
            ctx,
            f"electoral-register-{d.key}",
            person_e,
            {"prop": where[here], "prev_prop": np.full(len(person_e), -1)},
            address=False,
            nhs=False,
            dob=False,
            dead_retained=dead_e,
            dead_eligible=dead_elig,
        )
        # record the stale-address draw made above (eligible: movers held in this file)
        src = np.where(rec.dup_of >= 0, rec.dup_of, np.arange(rec.n))
        rec.mess.note(
            "out_of_date_address", stale_e[src], int((P["prev_property"][rec.person] >= 0).sum())
        )
        v, m, p = rec.v, rec.mess, rec.person
        pcs = postcode(rec)
        fns = join_names(v["forename"], v["middle"])
        sn = v["surname"].copy()
        m.case([fns, sn])
        m.whitespace([fns, sn])
        settle = pr["settlement"][v["prop"]]
        attain = np.where(P["age"][p] == 17, P["dob"][p] + 18 * 365 + 4, np.datetime64("NaT"))
        ids = np.empty(rec.n, dtype=object)
        erng = rng_for(ctx.seed, f"dataset:electoral-register-{d.key}")
        perm = erng.permutation(rec.n)
        # elector numbers: polling district letters (by settlement) and a running number
        pd_codes = settle_letters[settle[perm]]
        order = np.lexsort((np.arange(rec.n), pd_codes.astype(str)))
        run = np.empty(rec.n, dtype=np.int64)
        sorted_pd = pd_codes[order]
        starts = np.r_[0, np.flatnonzero(sorted_pd[1:] != sorted_pd[:-1]) + 1]
        counts = np.diff(np.r_[starts, rec.n])
        run[order] = np.arange(rec.n) - np.repeat(starts, counts) + 1
        ids = np.array([f"{a}-{b}" for a, b in zip(pd_codes, run, strict=True)], dtype=object)
        Writer.finish(
            rec,
            ctx,
            partner=partner_key,
            name=f"electoral-register-{d.key}",
            title=f"Electoral register ({d.name})",
            fmt="csv",
            id_col="elector_number",
            id_fmt="",
            ids=ids,
            perm=perm,
            columns={
                "elector_surname": sn,
                "elector_forenames": fns,
                "property_address": single_line_address(pr, v["prop"]),
                "postcode": pcs,
                "uprn": pa.array(pr["uprn"][v["prop"]]),
                "date_of_attainment": fmt_date(attain, "%d/%m/%Y"),
            },
        )

        # ---- housing tenancies ----
        hs = np.flatnonzero(social & (h_dist == di))
        lp = lead[hs]
        rec = prepare(
            ctx,
            f"housing-tenancies-{d.key}",
            lp,
            {"hh": hs, "prop": H["property"][hs], "prev_prop": np.full(len(hs), -1)},
            address=False,
            nhs=False,
            dead_retained=keep_dead[hs],
            dead_eligible=int((head_dead & social & (h_dist == di)).sum()),
        )
        v, m, p = rec.v, rec.mess, rec.person
        hsr = rec.cols["hh"]
        pcs = postcode(rec)
        fn, sn = v["forename"].copy(), v["surname"].copy()
        m.case([fn, sn])
        m.whitespace([fn, sn])
        Writer.finish(
            rec,
            ctx,
            partner=partner_key,
            name=f"housing-tenancies-{d.key}",
            title=f"Housing tenancies ({d.name})",
            fmt="csv",
            id_col="tenancy_ref",
            id_fmt=f"T{d.key[:2].upper()}{{:07d}}",
            columns={
                "tenant_title": titles(ctx.pop, p),
                "tenant_forename": fn,
                "tenant_surname": sn,
                "tenant_dob": fmt_date(v["dob"], "%d/%m/%Y"),
                "uprn": pa.array(pr["uprn"][v["prop"]]),
                "address_1": pr["address_line_1"][v["prop"]],
                "postcode": pcs,
                "tenancy_start_date": fmt_date(tenancy_start[hsr], "%d/%m/%Y"),
                "tenancy_type": rec.rng.choice(
                    ["Secure", "Assured", "Introductory", "Flexible"],
                    rec.n,
                    p=[0.55, 0.3, 0.08, 0.07],
                ).astype(object),
                "household_size": pa.array(H["living"][hsr]),
            },
        )


# --------------------------------------------------------------------------------------
# utility: priority services register
# --------------------------------------------------------------------------------------
PSR_CODES = {
    3: "Dialysis, feeding pump and automated medication",
    4: "Oxygen concentrator",
    9: "Pensionable age",
    12: "Physical impairment",
    15: "Mental health",
    19: "Unable to answer the door",
    20: "Dementia",
    26: "Oxygen use",
    33: "Temporary - post hospital recovery",
    37: "Water dependent",
}


def priority_services(ctx: Context) -> None:
    P = ctx.pop.p
    S = ctx.spells
    rng = rng_for(ctx.seed, "select:psr")
    n = ctx.pop.n
    age = P["age"]
    recent = np.zeros(n, bool)
    rs = S["discharge"] >= REF_DATE - 60
    recent[S["person"][rs]] = True
    code_flags = {
        3: P["dialysis"],
        4: P["home_oxygen"],
        9: age >= 66,
        12: P["mobility"] & (age >= 18),
        15: P["mental_health"],
        19: P["mobility"] & (age >= 75),
        20: P["dementia"],
        26: P["home_oxygen"] & (rng.random(n) < 0.5),
        33: recent & (age >= 18),
        37: P["dialysis"],
    }
    any_need = np.zeros(n, bool)
    for f in code_flags.values():
        any_need |= f
    p_reg = np.where(P["home_oxygen"] | P["dialysis"], 0.7, 0.3)
    cand = np.flatnonzero(any_need & (age >= 18) & (rng.random(n) < p_reg))
    person, dead, n_dead = living_with_dead(ctx, cand, "psr")
    rec = prepare(
        ctx,
        "priority-services-register",
        person,
        nhs=False,
        dead_retained=dead,
        dead_eligible=n_dead,
    )
    v, m, p = rec.v, rec.mess, rec.person
    pcs = postcode(rec)
    fn, sn = v["forename"].copy(), v["surname"].copy()
    m.case([fn, sn])
    m.whitespace([fn, sn])
    codes = np.full(rec.n, "", dtype=object)
    for c, f in code_flags.items():
        has = f[p]
        codes = np.where(has, np.where(codes == "", str(c), codes + ";" + str(c)), codes)
    pr = ctx.geo.properties
    dob_known = rec.rng.random(rec.n) < 0.55
    Writer.finish(
        rec,
        ctx,
        partner="mercia-water",
        name="priority-services-register",
        title="Priority services register",
        fmt="csv",
        id_col="psr_id",
        id_fmt="PSR{:08d}",
        columns={
            "account_number": s_arr(
                np.char.zfill((pr["uprn"][v["prop"]] % 10**9 * 7 % 10**10).astype(str), 10)
            ),
            "title": titles(ctx.pop, p),
            "first_name": fn,
            "surname": sn,
            "address_1": pr["address_line_1"][v["prop"]],
            "address_2": blank_to_null(s_arr(pr["address_line_2"][v["prop"]])),
            "town": pr["post_town"][v["prop"]],
            "postcode": pcs,
            "needs_codes": codes,
            "date_of_birth": fmt_date(
                np.where(dob_known, v["dob"], np.datetime64("NaT")), "%d/%m/%Y"
            ),
            "contact_phone": blank_to_null(s_arr(P["phone"][p])),
            "registered_date": fmt_date(REF_DATE - rec.rng.integers(1, 365 * 6, rec.n), "%Y-%m-%d"),
        },
    )


# --------------------------------------------------------------------------------------
# works: highways, rights of way, utility street works
# --------------------------------------------------------------------------------------
def _sub_lines(st, idx, rng):
    t0 = rng.uniform(0, 0.5, len(idx))
    t1 = np.minimum(1.0, t0 + rng.uniform(0.2, 0.6, len(idx)))
    x0, y0, x1, y1 = st["x0"][idx], st["y0"][idx], st["x1"][idx], st["y1"][idx]
    ax, ay = x0 + (x1 - x0) * t0, y0 + (y1 - y0) * t0
    bx, by = x0 + (x1 - x0) * t1, y0 + (y1 - y0) * t1
    return [
        f"LINESTRING ({a:.1f} {b:.1f}, {c:.1f} {d:.1f})"
        for a, b, c, d in zip(ax, ay, bx, by, strict=True)
    ]


def works(ctx: Context) -> None:
    st = ctx.geo.streets
    n_st = len(st["usrn"])
    settle_name = np.array([s.name for s in ctx.geo.settlements], dtype=object)
    for name, partner, title, share, prefix, promoter in (
        (
            "highway-works",
            COUNTY,
            "Planned highway works (street manager)",
            0.08,
            "WCC",
            "Worcestershire County Council",
        ),
        (
            "utility-works",
            "mercia-water",
            "Planned utility street works",
            0.06,
            "MW",
            "Mercia Water",
        ),
    ):
        rng = rng_for(ctx.seed, "dataset:" + name)
        k = max(1, int(n_st * share))
        idx = rng.integers(0, n_st, k)
        start = REF_DATE + rng.integers(-90, 365, k)
        cat = rng.choice(["major", "standard", "minor", "immediate"], k, p=[0.1, 0.3, 0.5, 0.1])
        dur = np.select(
            [cat == "major", cat == "standard"],
            [rng.integers(11, 90, k), rng.integers(4, 11, k)],
            rng.integers(1, 4, k),
        )
        activity = rng.choice(
            ["Resurfacing", "Patching", "Drainage", "Street lighting", "Footway works"]
            if name == "highway-works"
            else [
                "Water main repair",
                "New connection",
                "Valve replacement",
                "Leak repair",
                "Sewer works",
            ],
            k,
        )
        tm = rng.choice(
            [
                "Road closure",
                "Two-way signals",
                "Give and take",
                "Lane closure",
                "No carriageway incursion",
            ],
            k,
        )
        Writer.finish(
            None,
            ctx,
            partner=partner,
            name=name,
            title=title,
            fmt="csv",
            id_col="work_reference_number",
            id_fmt=prefix + "{:07d}",
            n=k,
            columns={
                "promoter": np.full(k, promoter, dtype=object),
                "usrn": pa.array(st["usrn"][idx]),
                "street_name": st["name"][idx],
                "town": settle_name[st["settle"][idx]],
                "works_category": cat.astype(object),
                "activity_type": activity.astype(object),
                "traffic_management_type": tm.astype(object),
                "traffic_sensitive": yn(rng.random(k) < 0.2),
                "excavation": yn(rng.random(k) < (0.8 if name == "utility-works" else 0.3)),
                "proposed_start_date": fmt_date(start, "%Y-%m-%d"),
                "proposed_end_date": fmt_date(start + dur, "%Y-%m-%d"),
                "location_wkt": np.array(_sub_lines(st, idx, rng), dtype=object),
            },
        )
    # rights of way: rural paths (random walks between villages' edges)
    rng = rng_for(ctx.seed, "dataset:rights-of-way-works")
    villages = [s for s in ctx.geo.settlements if s.kind == "village"] or ctx.geo.settlements
    k = int(np.clip(round(ctx.pop.n / 4000), 5, 2 * len(villages)))
    vi = rng.integers(0, len(villages), k)
    wkts, parish = [], []
    for j in range(k):
        s = villages[vi[j]]
        steps = rng.integers(3, 8)
        ang = rng.uniform(0, 2 * np.pi)
        x, y = s.x + rng.normal(0, 400), s.y + rng.normal(0, 400)
        pts = [(x, y)]
        for _ in range(steps):
            ang += rng.normal(0, 0.5)
            x, y = x + 150 * np.cos(ang), y + 150 * np.sin(ang)
            pts.append((x, y))
        wkts.append("LINESTRING (" + ", ".join(f"{a:.1f} {b:.1f}" for a, b in pts) + ")")
        parish.append(s.name)
    path_no = rng.integers(1, 60, k)
    kind = rng.choice(["FP", "BR", "RB"], k, p=[0.75, 0.2, 0.05])
    start = REF_DATE + rng.integers(-60, 300, k)
    closure = rng.choice(
        ["Temporary closure", "Temporary diversion", "Surface repair", "Bridge replacement"], k
    )
    Writer.finish(
        None,
        ctx,
        partner=COUNTY,
        name="rights-of-way-works",
        title="Public rights of way closures and works",
        fmt="csv",
        id_col="order_ref",
        id_fmt="PROW{:05d}",
        n=k,
        columns={
            "path_id": np.array(
                [f"{p[:3].upper()}-{t}{n}" for p, t, n in zip(parish, kind, path_no, strict=True)],
                dtype=object,
            ),
            "parish": np.array(parish, dtype=object),
            "path_type": np.select(
                [kind == "FP", kind == "BR"], ["Footpath", "Bridleway"], "Restricted byway"
            ).astype(object),
            "works_type": closure.astype(object),
            "start_date": fmt_date(start, "%d/%m/%Y"),
            "end_date": fmt_date(start + rng.integers(7, 180, k), "%d/%m/%Y"),
            "geometry_wkt": np.array(wkts, dtype=object),
        },
    )


def write_people_truth(ctx: Context) -> None:
    P = ctx.pop.p
    pr = ctx.geo.properties
    prev = P["prev_property"]
    table = pa.table(
        {
            "person_id": pa.array(np.arange(ctx.pop.n) + 1),
            "household_id": pa.array(P["household"] + 1),
            "uprn": pa.array(pr["uprn"][P["property"]]),
            "previous_uprn": pa.array(np.where(prev >= 0, pr["uprn"][np.maximum(prev, 0)], None)),
            "forename": s_arr(P["forename"]),
            "middle_names": s_arr(P["middle"]),
            "surname": s_arr(P["surname"]),
            "maiden_surname": blank_to_null(s_arr(P["maiden_surname"])),
            "recent_surname_change": pa.array(P["recent_surname_change"]),
            "date_of_birth": date_arr(P["dob"]),
            "age": pa.array(P["age"]),
            "sex": s_arr(np.where(P["male"], "M", "F")),
            "ethnic_category": s_arr(P["ethnic"]),
            "ethnic_group": s_arr(np.array([ETHNIC_GROUP[e] for e in P["ethnic"]], dtype=object)),
            "nhs_number": fmt_nhs(P["nhs"]),
            "phone": blank_to_null(s_arr(P["phone"])),
            "household_role": s_arr(
                np.array(["head", "partner", "child", "other adult", "older parent"])[P["role"]]
            ),
            "twin_person_id": pa.array(np.where(P["twin_of"] >= 0, P["twin_of"] + 1, None)),
            "died": pa.array(P["died"]),
            "date_of_death": date_arr(P["death_date"]),
            "lives_alone": pa.array(P["lives_alone"]),
            "clinical_frailty_scale": pa.array(P["cfs"]),
            **{
                k: pa.array(P[k])
                for k in (
                    "dementia",
                    "home_oxygen",
                    "smoker",
                    "mobility",
                    "hearing",
                    "sight",
                    "mental_health",
                    "learning_disability",
                    "dialysis",
                    "care_package",
                )
            },
        }
    )
    pq.write_table(table, ctx.out / "truth" / "people.parquet", compression="zstd")
    H = ctx.pop.h
    ht = pa.table(
        {
            "household_id": pa.array(np.arange(len(H["type"])) + 1),
            "household_type": s_arr(np.array(HTYPE_NAMES, dtype=object)[H["type"]]),
            "size": pa.array(H["size"]),
            "living_members": pa.array(H["living"]),
            "uprn": pa.array(pr["uprn"][H["property"]]),
            "previous_uprn": pa.array(
                np.where(
                    H["prev_property"] >= 0, pr["uprn"][np.maximum(H["prev_property"], 0)], None
                )
            ),
            "move_date": date_arr(H["move_date"]),
        }
    )
    pq.write_table(ht, ctx.out / "truth" / "households.parquet", compression="zstd")


def dump_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n")
