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


# About one true match in a thousand carries another person's valid NHS number.
NHS_DIFFER_M_PROBABILITY = 0.001


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
            # The modulus 11 check digit catches every single-digit error and every swap of
            # adjacent digits, so two valid numbers that differ are two people (or a wrong
            # number copied from someone else's record): strong evidence against, fixed so EM
            # cannot learn from twins (same date of birth, different numbers) that it is mild.
            cll.CustomLevel(
                "nhs_valid_l AND nhs_valid_r", label_for_charts="two valid NHS numbers differ"
            ).configure(m_probability=NHS_DIFFER_M_PROBABILITY, fix_m_probability=True),
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


# Two people at one address (a different first name, or a date of birth no keying error
# explains) weigh this much against a match: twins and a
# same-name father and son share everything else, so the usual weights of a differing name or
# date of birth (learned by EM) leave them linked at 0.9999999. 2^-30 outweighs the shared
# surname, address and postcode together.
HOUSEHOLD_M_PROBABILITY = 2.0**-30


def household_condition(fields: list[str] | set[str]) -> str | None:
    """SQL for "the same home": the same address (the whole address, or its house number and
    street; the UPRN; the postcode and date of birth when there is neither). None when the
    records lack the fields to tell."""
    fields = set(fields)
    if not {"surname", "given_name"} <= fields:
        return None
    if "address" in fields:
        place = (
            "(address_compact_l = address_compact_r"
            " OR (house_number_l = house_number_r AND street_l = street_r))"
        )
    elif "uprn" in fields:
        place = "uprn_l = uprn_r"
    elif {"postcode", "date_of_birth"} <= fields:
        place = "postcode_l = postcode_r AND dob_l = dob_r"
    else:
        return None
    return place


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


def household(condition: str, with_dob: bool = True) -> cl.CustomComparison:
    """Two people at one address: twins, siblings, a parent and child of the same name, a
    lodger, whatever their surnames (a married name changes the surname, not the first name).

    A comparison of its own, with both probabilities fixed, rather than levels of the given
    name and the date of birth: a level reading another field's column would make Splink
    leave its comparison out of the EM session blocked on that column. At one address
    (``condition``, from ``household_condition``) the pair is two people when the first names
    differ beyond a nickname, an initial, a middle name or a typo (Damerau-Levenshtein 1,
    Jaro-Winkler 0.88), or when the dates of birth differ beyond a keying error (more than one
    digit, not day and month swapped, not the year alone off by one, not in the same month).
    """
    names_differ = cll.And(
        cll.CustomLevel("given_name_l <> given_name_r"),
        cll.Not(cll.ArrayIntersectLevel("given_aliases", 1)),
        cll.Not(cll.JaroWinklerLevel("given_name", 0.88)),
        cll.Not(cll.DamerauLevenshteinLevel("given_name", 1)),
        cll.CustomLevel(
            "NOT (coalesce(given_other_l = given_name_r, false)"
            " OR coalesce(given_name_l = given_other_r, false)"
            " OR coalesce(given_initial_l = given_initial_r"
            " AND (given_is_initial_l OR given_is_initial_r), false)"
            " OR coalesce(given_name_l = surname_r AND surname_l = given_name_r, false))"
        ),
    )
    apart = names_differ
    if with_dob:
        dob_differs = cll.And(
            cll.Not(cll.LevenshteinLevel("dob", 1)),
            cll.CustomLevel(
                "NOT coalesce(dob_l = dob_swap_r, false) AND NOT coalesce(dob_month_l = dob_month_r"
                " AND (dob_year_l = dob_year_r OR (abs(dob_year_l - dob_year_r) = 1"
                " AND substr(dob_l, 9, 2) = substr(dob_r, 9, 2))), false)"
            ),
        )
        apart = cll.Or(names_differ, dob_differs)
    return cl.CustomComparison(
        output_column_name="household",
        comparison_levels=[
            cll.And(cll.CustomLevel(condition), apart).configure(
                label_for_charts="two people at one address (another first name, or a date "
                "of birth no keying error explains)",
                m_probability=HOUSEHOLD_M_PROBABILITY,
                u_probability=1.0,
                fix_m_probability=True,
                fix_u_probability=True,
            ),
            cll.ElseLevel().configure(
                label_for_charts="not two people at one address (no effect)",
                m_probability=0.5,
                u_probability=0.5,
                fix_m_probability=True,
                fix_u_probability=True,
            ),
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
                "dob_month_l = dob_month_r AND abs(dob_year_l - dob_year_r) = 1"
                " AND substr(dob_l, 9, 2) = substr(dob_r, 9, 2)",
                label_for_charts="year off by one, day and month equal",
            ),
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


def address(with_uprn: bool = False, households: bool = False) -> cl.CustomComparison:
    """Same UPRN, whole address (spaces ignored), the same house with a few typos, shared words.

    The house number separates neighbours: the same street at another number is weak evidence,
    the same number with the street's words (or a few keying errors) is strong. The UPRN is
    the property itself, so it is the top level here rather than a comparison of its own.

    With ``households`` (records of whole streets of families: a council or GP list), 10 and
    5 Tennyson Street are neighbours, not one home: another house number in the same street
    (more than one keying error apart) is fixed neutral, never towards a match. Without
    (FEBRL4: one person per household, no neighbours), EM weighs it, and a number mistyped
    there keeps the evidence of its street.
    """
    neighbours = []
    if households:
        neighbours.append(
            cll.And(
                cll.CustomLevel("house_number_l <> house_number_r AND street_l = street_r"),
                cll.Not(cll.DamerauLevenshteinLevel("house_number", 1)),
            ).configure(
                label_for_charts="another house number in the same street (neutral)",
                m_probability=0.5,
                u_probability=0.5,
                fix_m_probability=True,
                fix_u_probability=True,
            )
        )
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
            *neighbours,
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
