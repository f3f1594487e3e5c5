"""The Splink comparisons of the person model, one function per field.

Each comparison reads the columns that `engine.standardise` derives (``given_name``,
``given_aliases``, ``dob_swap``, ``postcode_sector`` ...), so the SQL here stays simple
equalities and string similarities that Splink renders for DuckDB and for Spark alike. Levels go
from the strongest agreement to the weakest; Splink takes the first level whose condition holds.
Why these levels: docs/decisions/0009-linkage-engine.md.
"""

from __future__ import annotations

import splink.comparison_level_library as cll
import splink.comparison_library as cl


def _names_swapped(counted_here: bool = True) -> cll.CustomLevel:
    """Both names present but swapped. The evidence is counted once, in the given name
    comparison; in the surname comparison the level has weight 0 (m = u, fixed), so the
    independence assumption does not count the same agreement twice."""
    level = cll.CustomLevel(
        "given_name_l = surname_r AND surname_l = given_name_r",
        label_for_charts="given name and surname swapped",
    )
    if counted_here:
        return level
    return level.configure(
        m_probability=0.5, u_probability=0.5, fix_m_probability=True, fix_u_probability=True
    )


def _either_null(column: str) -> cll.CustomLevel:
    return cll.CustomLevel(
        f"{column}_l IS NULL OR {column}_r IS NULL", label_for_charts=f"{column} missing"
    ).configure(is_null_level=True)


def nhs_number() -> cl.CustomComparison:
    """Valid and equal, equal but failing the check digit, one edit or transposition apart."""
    return cl.CustomComparison(
        output_column_name="nhs_number",
        comparison_levels=[
            _either_null("nhs_number"),
            cll.CustomLevel(
                "nhs_number_l = nhs_number_r AND nhs_valid_l",
                label_for_charts="valid NHS number equal",
            ),
            cll.ExactMatchLevel("nhs_number").configure(
                label_for_charts="NHS number equal, check digit fails"
            ),
            # Levenshtein, not Damerau-Levenshtein: in DuckDB the latter is about ten times
            # slower, and two substitutions cover a transposition of adjacent digits.
            cll.LevenshteinLevel("nhs_number", 2).configure(
                label_for_charts="one typo or a transposition apart (two digits at most)"
            ),
            cll.ElseLevel(),
        ],
    )


def other_id() -> cl.CustomComparison:
    """A generic identifier (national insurance number, social security id, client number)."""
    return cl.CustomComparison(
        output_column_name="other_id",
        comparison_levels=[
            _either_null("other_id"),
            cll.ExactMatchLevel("other_id").configure(label_for_charts="identifier equal"),
            cll.LevenshteinLevel("other_id", 1).configure(
                label_for_charts="one typo or transposition apart"
            ),
            cll.LevenshteinLevel("other_id", 2).configure(label_for_charts="two edits apart"),
            cll.ElseLevel(),
        ],
    )


def given_name() -> cl.CustomComparison:
    """Exact (term-frequency adjusted), known alias, close spelling, initial, other given name."""
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_levels=[
            _either_null("given_name"),
            _names_swapped(),
            cll.ExactMatchLevel("given_name", term_frequency_adjustments=True).configure(
                label_for_charts="given name equal"
            ),
            cll.ArrayIntersectLevel("given_aliases", 1).configure(
                label_for_charts="nickname or alias of the same name"
            ),
            cll.JaroWinklerLevel("given_name", 0.92).configure(
                label_for_charts="Jaro-Winkler >= 0.92"
            ),
            cll.CustomLevel(
                "given_other_l = given_name_r OR given_name_l = given_other_r",
                label_for_charts="one's first given name is the other's middle name",
            ),
            cll.JaroWinklerLevel("given_name", 0.88).configure(
                label_for_charts="Jaro-Winkler >= 0.88"
            ),
            cll.CustomLevel(
                "(given_is_initial_l OR given_is_initial_r) AND given_initial_l = given_initial_r",
                label_for_charts="one side is an initial and it agrees",
            ),
            cll.ElseLevel(),
        ],
    )


def surname() -> cl.CustomComparison:
    """Exact (term-frequency adjusted), a shared part of a double-barrelled name, close spelling."""
    return cl.CustomComparison(
        output_column_name="surname",
        comparison_levels=[
            _either_null("surname"),
            _names_swapped(counted_here=False),
            cll.ExactMatchLevel("surname", term_frequency_adjustments=True).configure(
                label_for_charts="surname equal"
            ),
            cll.JaroWinklerLevel("surname", 0.92).configure(
                label_for_charts="Jaro-Winkler >= 0.92"
            ),
            cll.ArrayIntersectLevel("surname_tokens", 1).configure(
                label_for_charts="share a part of a double-barrelled or hyphenated surname"
            ),
            cll.JaroWinklerLevel("surname", 0.8).configure(label_for_charts="Jaro-Winkler >= 0.8"),
            cll.CustomLevel(
                "surname_l = given_name_r OR given_name_l = surname_r",
                label_for_charts="one's surname is the other's given name",
            ),
            cll.ElseLevel(),
        ],
    )


def date_of_birth() -> cl.CustomComparison:
    """Exact, day and month swapped, one keying error, same month and year, within a year."""
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_levels=[
            _either_null("dob"),
            cll.ExactMatchLevel("dob").configure(label_for_charts="date of birth equal"),
            cll.CustomLevel("dob_l = dob_swap_r", label_for_charts="day and month swapped"),
            cll.LevenshteinLevel("dob", 1).configure(label_for_charts="one digit differs"),
            cll.CustomLevel(
                "dob_year_l = dob_year_r AND dob_month_l = dob_month_r",
                label_for_charts="same month and year",
            ),
            cll.LevenshteinLevel("dob", 2).configure(label_for_charts="two digits differ"),
            cll.CustomLevel("abs(dob_year_l - dob_year_r) <= 1", label_for_charts="within a year"),
            # What is left is a generation apart: parent and child at one address share a
            # surname and an address, and only this level (and the given name) tells them apart.
            cll.CustomLevel(
                "abs(dob_year_l - dob_year_r) <= 10", label_for_charts="within ten years"
            ),
            cll.ElseLevel(),
        ],
    )


def sex() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="sex",
        comparison_levels=[
            _either_null("sex"),
            cll.ExactMatchLevel("sex").configure(label_for_charts="sex equal"),
            cll.ElseLevel(),
        ],
    )


def postcode(with_distance: bool = False, uk: bool = True) -> cl.CustomComparison:
    """Unit, one typo, sector, district (UK shapes); any other postcode: exact or one typo.

    With coordinates (``easting``/``northing`` in metres) a pair in different districts can
    still be near: a move across a district boundary.
    """
    levels = [_either_null("postcode")]
    levels += [
        cll.ExactMatchLevel("postcode", term_frequency_adjustments=True).configure(
            label_for_charts="postcode equal"
        ),
        cll.LevenshteinLevel("postcode", 1).configure(label_for_charts="one typo apart"),
        cll.CustomLevel(
            "postcode_sorted_l = postcode_sorted_r",
            label_for_charts="the same characters, two swapped",
        ),
    ]
    if uk:
        levels.append(
            cll.ExactMatchLevel("postcode_sector").configure(label_for_charts="same sector")
        )
    if with_distance:
        levels.append(
            cll.CustomLevel(
                "sqrt(power(easting_l - easting_r, 2) + power(northing_l - northing_r, 2)) <= 2000",
                label_for_charts="within 2 km",
            )
        )
    if uk:
        levels.append(
            cll.ExactMatchLevel("postcode_district").configure(label_for_charts="same district")
        )
    if with_distance:
        levels.append(
            cll.CustomLevel(
                "sqrt(power(easting_l - easting_r, 2) + power(northing_l - northing_r, 2))"
                " <= 10000",
                label_for_charts="within 10 km",
            )
        )
    levels.append(cll.ElseLevel())
    return cl.CustomComparison(output_column_name="postcode", comparison_levels=levels)


def uprn() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="uprn",
        comparison_levels=[
            _either_null("uprn"),
            cll.ExactMatchLevel("uprn").configure(label_for_charts="same property"),
            cll.ElseLevel(),
        ],
    )


def address(with_uprn: bool = False) -> cl.CustomComparison:
    """Same UPRN, whole address (spaces ignored), the same house with a few typos, shared words.

    The house number separates neighbours: the same street at another number is weak evidence,
    the same number with the street's words (or a few keying errors) is strong. The UPRN is
    the property itself, so it is the top level here rather than a comparison of its own.
    """
    same_number = cll.CustomLevel("house_number_l = house_number_r")
    missing = _either_null("address")
    first: list = [missing]
    if with_uprn:
        first = [
            cll.CustomLevel(
                "(address_l IS NULL OR address_r IS NULL) AND (uprn_l IS NULL OR uprn_r IS NULL)",
                label_for_charts="address missing",
            ).configure(is_null_level=True),
            cll.ExactMatchLevel("uprn").configure(label_for_charts="same property (UPRN)"),
            cll.CustomLevel(
                "address_l IS NULL OR address_r IS NULL",
                label_for_charts="another property (UPRN), no address to compare",
            ),
        ]
    return cl.CustomComparison(
        output_column_name="address",
        comparison_levels=[
            *first,
            cll.ExactMatchLevel("address_compact").configure(
                label_for_charts="address equal (ignoring spaces)"
            ),
            cll.And(same_number, cll.LevenshteinLevel("address_compact", 4)).configure(
                label_for_charts="same number, at most three typos"
            ),
            cll.CustomLevel(
                "house_number_l = house_number_r AND street_l = street_r",
                label_for_charts="same number, same street words",
            ),
            cll.And(same_number, cll.ArrayIntersectLevel("address_tokens", 3)).configure(
                label_for_charts="same number, three or more words shared"
            ),
            cll.And(same_number, cll.ArrayIntersectLevel("address_tokens", 2)).configure(
                label_for_charts="same number, two words shared"
            ),
            cll.And(
                cll.CustomLevel("house_number_l IS NULL OR house_number_r IS NULL"),
                cll.ArrayIntersectLevel("address_tokens", 2),
            ).configure(label_for_charts="a number missing, two or more words shared"),
            cll.JaroWinklerLevel("address_compact", 0.9).configure(
                label_for_charts="Jaro-Winkler >= 0.9 (ignoring spaces)"
            ),
            cll.ArrayIntersectLevel("address_tokens", 3).configure(
                label_for_charts="another number, three or more words shared"
            ),
            cll.ArrayIntersectLevel("address_tokens", 1).configure(
                label_for_charts="a word shared"
            ),
            cll.JaroWinklerLevel("address_compact", 0.8).configure(
                label_for_charts="Jaro-Winkler >= 0.8 (ignoring spaces)"
            ),
            cll.ElseLevel(),
        ],
    )
