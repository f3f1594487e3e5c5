"""Health: the ICB (GP registrations, over-65 register), the acute trust (admissions,
discharge outcomes) and the community trust."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..common import REF_DATE, rng_for
from ..geography import DISTRICT_KEYS
from ..outcomes import FEATURES
from .base import (
    Context,
    Writer,
    blank_to_null,
    date_arr,
    fmt_date,
    fmt_nhs,
    living_with_dead,
    postcode,
    prepare,
    s_arr,
    yn,
)


def practice_codes(ctx: Context, prop: np.ndarray) -> np.ndarray:
    """A fictional GP practice code per property (a few practices per settlement)."""
    pr = ctx.geo.properties
    settle = pr["settlement"][prop]
    return np.char.add("M9", np.char.zfill((settle * 3 + pr["usrn"][prop] % 3).astype(str), 4))


# About 5% of patients in England have registered a national data opt-out (NHS England's
# published rate, 2024); a little more often at older ages.
OPT_OUT_RATE = 0.045
OPT_OUT_PER_DECADE = 0.003


def national_data_opt_out(ctx: Context) -> np.ndarray:
    """Whether each resident has registered the national data opt-out (for research and
    planning). Drawn from its own stream, so nothing else in the county changes with it."""
    age = ctx.pop.p["age"]
    rate = OPT_OUT_RATE + OPT_OUT_PER_DECADE * (np.maximum(age, 0) - 45) / 10
    return rng_for(ctx.seed, "national-data-opt-out").random(ctx.pop.n) < rate


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
    if ctx.discount is not None:
        reg_date = _discount_registrations(ctx, rec, reg_date)
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
            "national_data_opt_out": pa.array(national_data_opt_out(ctx)[p]),
        },
    )


def _discount_registrations(ctx: Context, rec, reg_date: np.ndarray) -> np.ndarray:
    """Registration dates (and ghost addresses) that agree with the council tax plan: a
    partner who moved in registered then; a lodger who left is still held where they lodged;
    anyone held at an address they left registered before its occupant moved in."""
    from .discount_planted import before_occupant

    plan = ctx.discount
    P = ctx.pop.p
    p = rec.person
    v = rec.v
    reg_date = reg_date.astype("datetime64[D]")
    original = rec.dup_of < 0
    for i in np.flatnonzero(original):
        person = int(p[i])
        if person in plan.ghost_gp:
            v["prop"][i], reg_date[i] = plan.ghost_gp[person]
        elif person in plan.arrival and v["prop"][i] == P["property"][person]:
            reg_date[i] = plan.arrival[person] + int(rec.rng.integers(0, 60))
    # registered at the address they live at no earlier than their household moved in
    household_since = plan.since[P["household"][p]]
    here = v["prop"] == P["property"][p]
    reg_date = np.where(here, np.maximum(reg_date, household_since), reg_date)
    left = ~here & ~np.isin(p, list(plan.ghost_gp))
    stale = before_occupant(ctx, plan, v["prop"], reg_date, "gp:stale-registration")
    # born after the occupant moved in: they never lived there, so no stale address either
    never = left & (stale < P["dob"][p])
    v["prop"] = np.where(never, P["property"][p], v["prop"])
    flags = rec.mess.flags.get("out_of_date_address")
    if flags is not None:
        flags &= ~never
    reg_date = np.where(left & ~never, stale, np.maximum(reg_date, household_since))
    return np.minimum(np.maximum(reg_date, P["dob"][p]), REF_DATE)


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
    # Still in hospital on the reference date: no discharge yet, so nothing about it recorded.
    inpatient = S["discharge"][sp] > REF_DATE
    truth_extra = {
        "spell_index": sp,
        "readmission": S["readmission"][sp],
        "in_hospital": inpatient,
    }

    def unless_inpatient(values) -> pa.Array:
        values = values if isinstance(values, pa.Array) else s_arr(values)
        return pc.if_else(pa.array(inpatient), pa.nulls(rec.n, type=values.type), values)

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
            "DISCH_DT": unless_inpatient(pc.strftime(ts[1], format="%Y-%m-%d %H:%M")),
            "LOS_DAYS": unless_inpatient(pa.array(S["los"][sp])),
            "ADMIT_METHOD": S["method"][sp].astype(object),
            "SPECIALTY": S["specialty"][sp],
            "CFS_SCORE": cfs_rec.astype(object),
            "DISCH_METHOD": unless_inpatient(np.where(S["died_in_hospital"][sp], "4", "1")),
            "DISCH_PATHWAY": unless_inpatient(s_arr(pathway.astype(object))),
            "READMIT_30D": unless_inpatient(yn(S["readmitted"][sp])),
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
    cols["in_hospital"] = pa.array(S["discharge"] > REF_DATE)
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
