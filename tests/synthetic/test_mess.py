from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from civicshare.synthetic.common import UNIT_LETTERS, nhs_check_digit, nhs_is_valid
from civicshare.synthetic.mess import Mess, MessRates, change_case, change_spacing, make_typo
from civicshare.synthetic.people import make_nhs_numbers

from .helpers import POSTCODE_RE

LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'-"
names = st.text(alphabet=LETTERS, min_size=1, max_size=20)
unit = st.sampled_from(list(UNIT_LETTERS))
postcodes = st.builds(
    lambda out, sector, a, b: f"{out} {sector}{a}{b}",
    st.sampled_from(["WR1", "WR14", "B60", "B98", "DY10", "HR7"]),
    st.integers(0, 9),
    unit,
    unit,
)
u = st.floats(0, 0.999999)


@given(names, u, u, u)
def test_a_typo_always_changes_the_name_by_one_edit(name, r1, r2, r3):
    out = make_typo(name, r1, r2, r3)
    assert out != name
    assert abs(len(out) - len(name)) <= 1


@given(names, u)
def test_case_and_space_noise_always_change_the_value(name, r):
    assert change_case(name, r) != name
    assert change_case(name, r).lower() == name.lower() or change_case(name, r).strip() == name
    assert change_spacing(name, r) != name
    assert change_spacing(name, r).split() == name.split()


@settings(max_examples=50)
@given(st.lists(postcodes, min_size=1, max_size=30), st.integers(0, 2**31))
def test_postcode_typos_stay_well_formed_and_wrong(pcs, seed):
    m = Mess(np.random.default_rng(seed), MessRates(postcode_typo=1.0), len(pcs))
    arr = np.array(pcs, dtype=object)
    out = m.postcode(arr)
    assert all(POSTCODE_RE.match(p) for p in out)
    assert (out != arr).all()
    assert m.flags["postcode_typo"].all()


@settings(max_examples=30)
@given(st.integers(0, 2**31))
def test_wrong_nhs_numbers(seed):
    rng = np.random.default_rng(seed)
    nhs = make_nhs_numbers(rng, 200)
    assert nhs_is_valid(nhs.astype(str)).all()
    m = Mess(rng, MessRates(missing_nhs=0.0, wrong_nhs=1.0), len(nhs))
    out = m.nhs(nhs)
    assert (out != nhs).all()
    valid = nhs_is_valid(out.astype(str))
    # a changed digit always fails the check; the valid ones are other residents' numbers
    assert np.isin(out[valid], nhs).all()
    assert (~valid).sum() > 100


def test_check_digit_matches_the_published_example():
    assert nhs_check_digit(np.array([943476591]))[0] == 9
