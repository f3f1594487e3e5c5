"""District councils: council tax, electoral register and housing tenancies, one file each
per district."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ..common import rng_for
from ..geography import DISTRICTS, DistrictSpec, single_line_address
from ..partnership import DISTRICT_PARTNER
from ..people import HTYPE_NAMES
from .base import (
    Context,
    Writer,
    fmt_date,
    join_names,
    living_with_dead,
    postcode,
    prepare,
    s_arr,
    titles,
    yn,
)
from .discount_planted import before_occupant, registration_dates


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


@dataclass
class DistrictState:
    """What the three district files share: each household's lead and account, and who is
    on the electoral register, all drawn once for the county before the per-district files."""

    lead: np.ndarray
    keep_dead: np.ndarray
    head_dead: np.ndarray
    h_dist: np.ndarray
    has_account: np.ndarray
    student: np.ndarray
    social: np.ndarray
    tenancy_start: np.ndarray
    partner: np.ndarray
    n_adults: np.ndarray
    registered: np.ndarray
    settle_letters: np.ndarray


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
    # when each account holder's liability (or tenancy) began, drawn with the planted cases
    tenancy_start = ctx.discount.since
    elect_rng = rng_for(ctx.seed, "select:electoral")
    registered = (P["age"] >= 17) & (elect_rng.random(ctx.pop.n) < 0.93)
    settle_letters = np.array(
        [f"{chr(65 + i // 26 % 26)}{chr(65 + i % 26)}" for i in range(len(ctx.geo.settlements))],
        dtype=object,
    )
    st = DistrictState(
        lead=lead,
        keep_dead=keep_dead,
        head_dead=head_dead,
        h_dist=h_dist,
        has_account=has_account,
        student=student,
        social=social,
        tenancy_start=tenancy_start,
        partner=partner,
        n_adults=n_adults,
        registered=registered,
        settle_letters=settle_letters,
    )
    for di, d in enumerate(DISTRICTS):
        partner_key = DISTRICT_PARTNER[d.key]
        council_tax(ctx, st, di, d, partner_key)
        electoral_register(ctx, st, di, d, partner_key)
        housing_tenancies(ctx, st, di, d, partner_key)


def council_tax(
    ctx: Context, st: DistrictState, di: int, d: DistrictSpec, partner_key: str
) -> None:
    """One district's council tax accounts."""
    P = ctx.pop.p
    H = ctx.pop.h
    pr = ctx.geo.properties
    lead, keep_dead, head_dead, h_dist, has_account, student, tenancy_start, partner, n_adults = (
        st.lead,
        st.keep_dead,
        st.head_dead,
        st.h_dist,
        st.has_account,
        st.student,
        st.tenancy_start,
        st.partner,
        st.n_adults,
    )
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
    false_discount = ctx.discount.false_discount[hsr]
    spd = ((n_adults[hsr] == 1) & ~stud) | false_discount
    # an account hiding another adult names no joint liable party
    joint = np.where(false_discount, None, joint)
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
            "liability_start": fmt_date(tenancy_start[hsr], CT_DATE_FORMAT.get(d.key, "%d-%m-%Y")),
        },
        truth_extra={
            "single_adult": n_adults[hsr] == 1,
            "other_adult": n_adults[hsr] >= 2,
            # the account names a joint liable person (a death: remove, not close)
            "joint_liable": np.array([name is not None for name in joint], dtype=bool),
            "spd_case": ctx.discount.spd_case[hsr].astype(str),
        },
    )


def electoral_register(
    ctx: Context, st: DistrictState, di: int, d: DistrictSpec, partner_key: str
) -> None:
    """One district's electoral register: electors where the register thinks they live."""
    P = ctx.pop.p
    pr = ctx.geo.properties
    registered, settle_letters = (
        st.registered,
        st.settle_letters,
    )
    cand = np.flatnonzero(registered)
    cand_all, dead_flag, _ = living_with_dead(ctx, cand, "electoral")
    rng_e = rng_for(ctx.seed, f"stale:electoral:{d.key}")
    # an elector who moved may still be registered at the old address
    prev = P["prev_property"][cand_all]
    stale = (prev >= 0) & (rng_e.random(len(cand_all)) < ctx.rates.out_of_date_address)
    where = np.where(stale, prev, P["property"][cand_all])
    registered_on = registration_dates(ctx, ctx.discount, cand_all)
    registered_on = np.where(
        stale,
        before_occupant(ctx, ctx.discount, where, registered_on, f"electoral:stale:{d.key}"),
        registered_on,
    )
    # the planted previous occupants, registered at a property as well as their own
    planted = ctx.discount.stale_electors
    extra = np.array(sorted(planted), dtype=np.int64)
    if len(extra):
        cand_all = np.r_[cand_all, extra]
        dead_flag = np.r_[dead_flag, np.zeros(len(extra), bool)]
        # planted cases, not mess: they are not counted as out-of-date addresses
        stale = np.r_[stale, np.zeros(len(extra), bool)]
        where = np.r_[where, [planted[p][0] for p in extra]].astype(np.int64)
        registered_on = np.r_[registered_on, [planted[p][1] for p in extra]]
    here = pr["district"][where] == di
    person_e = cand_all[here]
    stale_e = stale[here]
    dead_e = dead_flag[here]
    dead_elig = int((P["died"][cand] & (pr["district"][P["property"][cand]] == di)).sum())
    rec = prepare(
        ctx,
        f"electoral-register-{d.key}",
        person_e,
        {
            "prop": where[here],
            "prev_prop": np.full(len(person_e), -1),
            "registered_on": registered_on[here].astype("datetime64[D]"),
        },
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
            "registered_on": fmt_date(rec.cols["registered_on"], "%d/%m/%Y"),
        },
    )


def housing_tenancies(
    ctx: Context, st: DistrictState, di: int, d: DistrictSpec, partner_key: str
) -> None:
    """One district's housing tenancies."""
    H = ctx.pop.h
    pr = ctx.geo.properties
    lead, keep_dead, head_dead, h_dist, social, tenancy_start = (
        st.lead,
        st.keep_dead,
        st.head_dead,
        st.h_dist,
        st.social,
        st.tenancy_start,
    )
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
            "household_adults": pa.array(st.n_adults[hsr]),
        },
    )
