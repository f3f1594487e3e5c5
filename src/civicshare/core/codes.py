"""Code lists of the NHS Data Dictionary that more than one domain reads."""

from __future__ import annotations

# Ethnic category (one letter) -> its group of the 2001 census categories.
ETHNIC_GROUP = {
    "A": "White",
    "B": "White",
    "C": "White",
    "D": "Mixed",
    "E": "Mixed",
    "F": "Mixed",
    "G": "Mixed",
    "H": "Asian",
    "J": "Asian",
    "K": "Asian",
    "L": "Asian",
    "M": "Black",
    "N": "Black",
    "P": "Black",
    "R": "Other",
    "S": "Other",
    "Z": "Not stated",
}
