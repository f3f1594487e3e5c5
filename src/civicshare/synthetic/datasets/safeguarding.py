"""Children's trust (child protection), fire (home safety visits) and police (vulnerability
markers)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..common import REF_DATE, rng_for
from ..geography import single_line_address
from ..people import HTYPE_NAMES
from .base import (
    Context,
    Writer,
    fmt_date,
    fmt_nhs,
    join_names,
    postcode,
    prepare,
    s_arr,
    titles,
    yn,
)


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
