"""Utility: the priority services register."""

from __future__ import annotations

import numpy as np

from ..common import REF_DATE, rng_for
from .base import (
    Context,
    Writer,
    blank_to_null,
    fmt_date,
    living_with_dead,
    postcode,
    prepare,
    s_arr,
    titles,
)

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
