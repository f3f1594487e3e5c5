"""The nickname list (linkage/data/nicknames.csv) that name comparisons, the household rule,
attachment and subject access share."""

from __future__ import annotations

import pytest

from civicshare.linkage.standardised import nickname_groups
from civicshare.synthetic import names


@pytest.fixture(scope="module")
def groups() -> dict[str, set[str]]:
    frame = nickname_groups()
    return {name: set(of) for name, of in zip(frame["name"], frame["groups"], strict=True)}


@pytest.mark.parametrize(
    ("short", "formal"),
    [
        ("LES", "LESLIE"),
        ("KATH", "KATHERINE"),
        ("KATH", "KATHRYN"),
        ("KATH", "CATHERINE"),
        ("GILL", "GILLIAN"),
        ("CHRISSIE", "CHRISTINE"),
        ("CHRISSIE", "CHRISTINA"),
    ],
)
def test_a_short_form_shares_a_group_with_its_formal_name(groups, short, formal):
    assert groups.get(short, set()) & groups.get(formal, set()), (short, formal)


def test_names_that_are_no_nickname_of_each_other_share_no_group(groups):
    for left, right in [("LES", "GILLIAN"), ("KATH", "CHRISTINE"), ("GILL", "LESLIE")]:
        assert not groups.get(left, set()) & groups.get(right, set()), (left, right)


def test_every_nickname_the_synthetic_data_uses_is_on_the_list(groups):
    # The county and the held-out pair draw nicknames from names.NICKNAMES; one missing from
    # the linkage list is a true match the household rule would keep apart.
    missing = [
        (formal, short)
        for formal, shorts in names.NICKNAMES.items()
        for short in shorts
        if not groups.get(formal.upper(), set()) & groups.get(short.upper(), set())
    ]
    assert missing == []
