from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
import pytest

from civicshare.synthetic.common import nhs_is_valid
from civicshare.synthetic.geography import DISTRICT_KEYS
from civicshare.synthetic.names import NICKNAMES
from civicshare.synthetic.partnership import PARTNER_BY_KEY, PARTNER_TYPES, PARTNERS

from .helpers import POSTCODE_RE, read_dataset, within

NHS_COLUMN = {
    "gp-registrations": "nhs_number",
    "over-65-register": "nhs_number",
    "acute-admissions": "NHS_NO",
    "community-health": "nhs_number",
    "asc-clients": "NHS Number",
    "child-protection": "nhs_number",
    "death-registrations": "nhs_number",
}
POSTCODE_COLUMN = {
    "acute-admissions": "POSTCODE",
    "asc-clients": "Post Code",
    "vulnerability-markers": "POSTCODE",
}


def test_partners():
    keys = [p["key"] for p in PARTNERS]
    assert len(keys) == len(set(keys)) == 17
    # the utilities are fictional and say so in their names
    utilities = [p for p in PARTNERS if p["type"] == "other"]
    assert len(utilities) == 4 and all("(fictional utility)" in p["name"] for p in utilities)
    assert all(p["type"] in PARTNER_TYPES for p in PARTNERS)
    assert {p["district"] for p in PARTNERS if p["type"] == "district_council"} == set(
        DISTRICT_KEYS
    )
    names = {p["name"] for p in PARTNERS}
    assert "West Mercia Police" in names and "Worcestershire Children First" in names
    assert all("9" in p["ods_code"] for p in PARTNERS)


def test_manifest_lists_every_dataset_with_its_rows_and_columns(county):
    out, m = county
    assert m["generator"] == "civicshare.synthetic" and m["version"] == 5
    assert m["seed"] == 7 and m["people"] == 5000
    assert m["partners"] == PARTNERS
    names = {d["name"] for d in m["datasets"]}
    for kind in ("council-tax", "electoral-register", "housing-tenancies"):
        for key in DISTRICT_KEYS:
            assert f"{kind}-{key}" in names
    for name in (
        "gp-registrations",
        "over-65-register",
        "acute-admissions",
        "community-health",
        "asc-clients",
        "asc-care-packages",
        "child-protection",
        "home-fire-safety-visits",
        "vulnerability-markers",
        "death-registrations",
        "priority-services-register",
        "highway-works",
        "rights-of-way-works",
        "utility-works",
        "gas-works",
        "electricity-works",
        "telecoms-works",
        "traffic-counts",
        *(f"district-works-{key}" for key in DISTRICT_KEYS),
    ):
        assert name in names
    files = sorted(p.name for p in (out / "datasets").iterdir())
    assert files == sorted(d["file"].split("/")[1] for d in m["datasets"])
    for d in m["datasets"]:
        assert d["partner"] in PARTNER_BY_KEY
        t = read_dataset(out, d)
        assert t.num_rows == d["rows"], d["name"]
        assert t.column_names == d["columns"], d["name"]
        assert d["rows"] > 0, d["name"]
        if "district" in PARTNER_BY_KEY[d["partner"]]:
            assert d["name"].endswith(PARTNER_BY_KEY[d["partner"]]["district"])
        if "truth" in d:
            truth = pq.read_table(out / d["truth"])
            assert truth.num_rows == d["rows"]
            ids = t.column(d["record_id"]).to_pylist()
            assert ids == truth.column("record_id").to_pylist()
            assert len(set(ids)) == len(ids)


def test_nhs_numbers_valid_except_injected_errors(county):
    out, m = county
    checked = 0
    for d in m["datasets"]:
        col = NHS_COLUMN.get(d["name"])
        if not col:
            continue
        t = read_dataset(out, d).to_pandas()
        truth = pq.read_table(out / d["truth"]).to_pandas()
        nhs = t[col]
        present = nhs.notna().to_numpy()
        valid = nhs_is_valid(nhs.to_numpy())
        wrong = truth.err_wrong_nhs.to_numpy()
        missing = truth.err_missing_nhs.to_numpy()
        assert (present == ~missing).all(), d["name"]
        assert valid[present & ~wrong].all(), d["name"]
        invalid = present & ~valid
        assert (wrong[invalid]).all(), d["name"]
        # most wrong numbers fail the check; some are another resident's valid number
        checked += int(present.sum())
    assert checked > 5000


def test_realised_error_rates_match_settings(county):
    out, m = county
    pooled = defaultdict(lambda: [0, 0])
    for d in m["datasets"]:
        if "truth" not in d or not d["error_counts"]:
            continue
        truth = pq.read_table(out / d["truth"]).to_pandas()
        for kind, c in d["error_counts"].items():
            assert int(truth[f"err_{kind}"].sum()) == c["applied"], (d["name"], kind)
            assert c["applied"] <= c["eligible"] or kind == "duplicate"
            assert d["error_rates"][kind] == m["mess_rates"][kind]
            pooled[kind][0] += c["applied"]
            pooled[kind][1] += c["eligible"]
    for kind in (
        "typo",
        "nickname",
        "date_swap",
        "missing_nhs",
        "wrong_nhs",
        "postcode_typo",
        "case_noise",
        "whitespace_noise",
        "duplicate",
        "out_of_date_address",
        "deceased_retained",
        "old_surname",
    ):
        applied, eligible = pooled[kind]
        assert eligible > 0, kind
        assert within(applied, eligible, m["mess_rates"][kind]), (kind, applied, eligible)


def test_records_agree_with_truth(county):
    """Check a dataset against the people truth: the injected errors are exactly what changed."""
    out, m = county
    entry = next(d for d in m["datasets"] if d["name"] == "gp-registrations")
    t = read_dataset(out, entry).to_pandas()
    truth = pq.read_table(out / entry["truth"]).to_pandas()
    people = pq.read_table(out / "truth" / "people.parquet").to_pandas().set_index("person_id")
    p = people.loc[truth.person_id]
    dob = t.date_of_birth.to_numpy()
    true_dob = p.date_of_birth.to_numpy()
    swap = truth.err_date_swap.to_numpy()
    assert (dob[~swap] == true_dob[~swap]).all()
    assert (dob[swap] != true_dob[swap]).all()
    sw = t[swap]
    tr = p[swap]
    assert (
        np.array([d.day for d in sw.date_of_birth]) == [d.month for d in tr.date_of_birth]
    ).all()
    nick = (
        truth.err_nickname & ~truth.err_typo & ~truth.err_case_noise & ~truth.err_whitespace_noise
    )
    for given, true in zip(t.given_name[nick], p.forename[nick.to_numpy()], strict=True):
        assert given in NICKNAMES[true]
    clean = ~(truth[[c for c in truth.columns if c.startswith("err_")]].any(axis=1)).to_numpy()
    assert (t.given_name[clean].to_numpy() == p.forename[clean].to_numpy()).all()
    assert (t.family_name[clean].to_numpy() == p.surname[clean].to_numpy()).all()
    dead = truth.err_deceased_retained.to_numpy()
    assert p.died.to_numpy()[dead].all()
    assert not p.died.to_numpy()[~dead & truth.duplicate_of.isna().to_numpy()].any()
    dups = truth[truth.err_duplicate]
    orig = truth.set_index("record_id").loc[dups.duplicate_of]
    assert (orig.person_id.to_numpy() == dups.person_id.to_numpy()).all()


def test_postcodes_in_datasets_keep_the_uk_format(county):
    out, m = county
    for d in m["datasets"]:
        t = read_dataset(out, d)
        for col in ("postcode", "POSTCODE", "Post Code"):
            if col in t.column_names:
                vals = [v for v in t.column(col).to_pylist() if v]
                assert vals and all(POSTCODE_RE.match(v) for v in vals), d["name"]


def test_partner_formats(county):
    out, m = county
    get = {d["name"]: read_dataset(out, d).to_pandas() for d in m["datasets"]}
    acute = get["acute-admissions"]
    assert acute.DOB.str.match(r"^\d{8}$").all()
    assert acute.NHS_NO.dropna().str.match(r"^\d{3} \d{3} \d{4}$").all()
    assert set(acute.DISCH_PATHWAY.dropna()) <= {"0", "1", "2", "3"}
    assert acute.CFS_SCORE.dropna().astype(int).between(1, 9).all()
    asc = get["asc-clients"]
    assert asc["Date of Birth"].str.match(r"^\d{2}/\d{2}/\d{4}$").all()
    assert asc["Client Name"].str.contains(", ").all()
    fire = get["home-fire-safety-visits"]
    assert set(fire.uses_oxygen) <= {"Y", "N"} and fire.uprn.str.match(r"^\d{1,12}$").all()
    psr = get["priority-services-register"]
    assert psr.needs_codes.str.match(r"^\d+(;\d+)*$").all()
    ct = pq.read_table(out / "truth" / "council-tax-worcester.parquet").to_pandas()
    ctd = get["council-tax-worcester"]
    assert (ctd.spd == "Y").mean() > 0.2
    # a discount where another adult lives is always a planted case, with its truth
    false_discount = (ctd.spd == "Y").to_numpy() & ~ct.single_adult.to_numpy()
    assert set(ct.spd_case[false_discount]) <= {"partner_moved_in", "adult_child_stayed"}
    assert (ct.other_adult.to_numpy() == ~ct.single_adult.to_numpy()).all()
    er = get["electoral-register-wychavon"]
    assert "elector_surname" in er.columns and "date_of_birth" not in er.columns
    deaths = get["death-registrations"]
    assert deaths.date_of_death.str.match(r"^\d{1,2} [A-Z][a-z]+ \d{4}$").all()
    works = get["highway-works"]
    assert works.works_location_wkt.str.match(r"^(LINESTRING|POINT) \(").all()


def test_discharge_outcomes(county):
    out, m = county
    o = pq.read_table(out / "truth" / "discharge_outcomes.parquet").to_pandas()
    acute = read_dataset(out, next(d for d in m["datasets"] if d["name"] == "acute-admissions"))
    acute = acute.to_pandas().set_index("SPELL_ID")
    mod = o[o.modelled]
    assert len(mod) > 300
    pi = mod[[f"p_pathway_{k}" for k in range(4)]].to_numpy()
    assert np.allclose(pi.sum(axis=1), 1.0)
    shares = pi.mean(axis=0)
    assert abs(shares[0] - 0.50) < 0.08 and abs(shares[1] - 0.45) < 0.08
    assert 0.01 < shares[2] < 0.09 and 0.002 < shares[3] < 0.04
    p = mod.p_new_care_package_30d.to_numpy()
    y = mod.new_care_package_30d.to_numpy()
    assert ((p > 0) & (p < 1)).all()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)
    assert abs(y.mean() - p.mean()) < 4 * se
    # the realised pathway is the one the acute trust recorded once the patient left hospital;
    # a current inpatient's discharge, pathway and length of stay are not recorded yet
    left = mod[~mod.in_hospital]
    rec = acute.loc[left.SPELL_ID, "DISCH_PATHWAY"].astype(int).to_numpy()
    assert (rec == left.pathway.to_numpy()).all()
    staying = acute.loc[o[o.in_hospital].SPELL_ID]
    assert staying[["DISCH_DT", "DISCH_PATHWAY", "LOS_DAYS"]].isna().all().all()
    summary = m["outcome_model"]["new_care_package_30d"]
    assert 0.5 < summary["bayes_accuracy_at_admission"] <= 1.0


@pytest.mark.parametrize("name", ["asc-care-packages"])
def test_new_care_packages_follow_discharge(county, name):
    out, m = county
    pk = pq.read_table(out / "truth" / f"{name}.parquet").to_pandas()
    o = pq.read_table(out / "truth" / "discharge_outcomes.parquet").to_pandas()
    after = pk[pk.after_discharge]
    assert len(after) > 0
    assert set(after.person_id) <= set(o[o.new_care_package_30d].person_id)


def test_twins_appear_in_a_source_as_near_identical_records(county):
    out, m = county
    entry = next(d for d in m["datasets"] if d["name"] == "gp-registrations")
    t = read_dataset(out, entry).to_pandas()
    truth = pq.read_table(out / entry["truth"]).to_pandas()
    people = pq.read_table(out / "truth" / "people.parquet").to_pandas()
    twins = people[people.twin_person_id.notna()]
    t["person_id"] = truth.person_id.to_numpy()
    held = t[t.person_id.isin(twins.person_id) & ~truth.err_duplicate.to_numpy()]
    pairs = held.groupby(["family_name", "date_of_birth", "postcode"]).person_id.nunique()
    assert (pairs == 2).sum() >= 5  # same surname, birth date and address: two people
