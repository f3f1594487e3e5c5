from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq

from civicshare.synthetic.common import nhs_is_valid

from .conftest import PEOPLE


def people(out):
    return pq.read_table(out / "truth" / "people.parquet").to_pandas()


def households(out):
    return pq.read_table(out / "truth" / "households.parquet").to_pandas()


def test_age_structure_like_a_shire_county(county):
    out, _ = county
    p = people(out)
    assert len(p) == PEOPLE
    assert 0.17 <= (p.age >= 65).mean() <= 0.24
    assert 0.17 <= (p.age < 18).mean() <= 0.25
    assert 0.015 <= (p.age >= 85).mean() <= 0.05
    assert p.age.max() <= 105


def test_household_sizes(county):
    out, _ = county
    h = households(out)
    p = people(out)
    share = h["size"].value_counts(normalize=True).sort_index()
    assert 0.25 <= share[1] <= 0.36  # about 30% one-person households
    assert 0.25 <= share[2] <= 0.37
    assert share.loc[5:].sum() < 0.08
    assert 2.2 <= len(p) / len(h) <= 2.5
    single = h[h["size"] == 1].household_id
    older_alone = p[p.household_id.isin(single)].age >= 65
    assert 0.35 <= older_alone.mean() <= 0.65  # many of them 65+
    assert (h.household_type == "students").any()
    stud = p[p.household_id.isin(h[h.household_type == "students"].household_id)]
    assert stud.age.between(18, 24).all()


def test_twins_are_the_hardest_non_matches(county):
    out, _ = county
    p = people(out).set_index("person_id")
    twins = p[p.twin_person_id.notna()]
    assert len(twins) >= 10
    other = p.loc[twins.twin_person_id.astype(int)]
    assert (twins.surname.to_numpy() == other.surname.to_numpy()).all()
    assert (twins.date_of_birth.to_numpy() == other.date_of_birth.to_numpy()).all()
    assert (twins.uprn.to_numpy() == other.uprn.to_numpy()).all()
    assert (twins.index.to_numpy() != other.index.to_numpy()).all()


def test_identifiers_and_life_events(county):
    out, _ = county
    p = people(out)
    assert p.nhs_number.is_unique
    assert nhs_is_valid(p.nhs_number.to_numpy()).all()
    assert p.nhs_number.str.match(r"^9\d{9}$").all()
    assert 0.005 <= p.died.mean() <= 0.025
    dead = p[p.died]
    assert (dead.date_of_death > dead.date_of_birth).all()
    assert p.previous_uprn.notna().mean() > 0.08  # people who moved house
    assert p.recent_surname_change.sum() > 0
    assert (p[p.recent_surname_change].maiden_surname.notna()).all()
    assert set(p.sex) == {"M", "F"}
    assert p.ethnic_category.isin(list("ABCDEFGHJKLMNPRSZ")).all()
    assert p.phone.dropna().str.match(r"^(07700 900|01632 960)\d{3}$").all()
    # older people are frailer
    assert (
        p[p.age >= 80].clinical_frailty_scale.mean()
        > p[p.age < 50].clinical_frailty_scale.mean() + 1
    )


def test_nhs_check_digit_function():
    valid = ["9434765919", "943 476 5919"]
    assert nhs_is_valid(valid).all()
    assert not nhs_is_valid(["9434765918", "943476591", "", None, "abcdefghij"]).any()
    # a single-digit change always breaks the modulus-11 check
    base = "9434765919"
    changed = [base[:i] + str((int(base[i]) + 3) % 10) + base[i + 1 :] for i in range(10)]
    assert not nhs_is_valid(changed).any()
    assert np.issubdtype(nhs_is_valid(valid).dtype, np.bool_)
