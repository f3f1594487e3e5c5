"""County council: adult social care (clients and care packages) and death registrations.
(Its highways and rights of way works are in ``works``.)"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..common import REF_DATE, rng_for
from ..geography import single_line_address
from .base import (
    COUNTY,
    Context,
    Writer,
    blank_to_null,
    fmt_date,
    fmt_nhs,
    join_names,
    postcode,
    prepare,
    s_arr,
)

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
    client_id_of_person = _asc_clients(ctx, rng, clients)
    _asc_packages(ctx, rng, existing, new_sp, new_start, client_id_of_person)


def _asc_clients(ctx: Context, rng: np.random.Generator, clients: np.ndarray) -> dict:
    """asc-clients; returns each client's Client ID: its first (non-duplicate) record's."""
    P = ctx.pop.p
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
    orig_rows = np.flatnonzero(rec.dup_of < 0)
    client_id_of_person = dict(zip(p[orig_rows].tolist(), id_of_orig[orig_rows], strict=True))
    return client_id_of_person


def _asc_packages(
    ctx: Context,
    rng: np.random.Generator,
    existing: np.ndarray,
    new_sp: np.ndarray,
    new_start: np.ndarray,
    client_id_of_person: dict,
) -> None:
    """asc-care-packages: existing packages and those started after a hospital discharge."""
    P = ctx.pop.p
    S = ctx.spells
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
