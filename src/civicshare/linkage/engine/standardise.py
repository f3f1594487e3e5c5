"""Standardisation in DuckDB: canonical records cleaned for comparison, in one SQL statement.

The Spark backend computes the same columns in ``linkage/spark_standardise.py``; what both
share (column names, abbreviations, nicknames) is in ``linkage/standardised.py``.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from civicshare.linkage.standardised import (
    ABBREVIATIONS,
    CANONICAL_COLUMNS,
    STANDARD_COLUMNS,
    is_standardised,
    nickname_groups,
)


def clean_text_sql(column: str, keep: str = "A-Z ") -> str:
    """Upper case, accents stripped, apostrophes dropped, other punctuation to spaces."""
    return (
        "nullif(trim(regexp_replace(regexp_replace(regexp_replace("
        f"upper(strip_accents(CAST({column} AS VARCHAR))), '[''`’]', '', 'g'), "
        f"'[^{keep}]', ' ', 'g'), ' +', ' ', 'g')), '')"
    )


def standardise(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical records cleaned for comparison; extra columns pass through."""
    if is_standardised(frame):
        return frame
    con = duckdb.connect()
    try:
        standardise_into(con, frame, "standardised_records")
        return con.execute("SELECT * EXCLUDE (_row) FROM standardised_records ORDER BY _row").df()
    finally:
        con.close()


_INPUT_ROW = "__civicshare_input_row"


def standardise_sql(frame: pd.DataFrame) -> str:
    """The one statement standardising view ``raw_input`` (with view ``nicknames``)."""
    extras = [c for c in frame.columns if c not in CANONICAL_COLUMNS and c not in STANDARD_COLUMNS]
    present = set(frame.columns)
    as_text = ",\n".join(
        f"nullif(trim(CAST(\"{c}\" AS VARCHAR)), '') AS {c}"
        if c in present
        else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in CANONICAL_COLUMNS
    )
    return _cleaned_sql(as_text, extras) + _standardised_sql(extras) + _UNCOMMON_WORDS_SQL


def _cleaned_sql(as_text: str, extras: list[str]) -> str:
    """Text cleaned, names split into tokens, postcodes in UK shape."""
    return f"""
    WITH raw_text AS (
        SELECT "{_INPUT_ROW}" AS _row, {as_text}{"".join(f', "{c}"' for c in extras)}
        FROM raw_input
    ),
    cleaned AS (
        SELECT
            _row,
            coalesce(source, 'records') AS source,
            record_id,
            {clean_text_sql("given_name")} AS given_clean,
            {clean_text_sql("surname")} AS surname_clean,
            try_strptime(trim(date_of_birth), '%Y-%m-%d')::DATE AS dob_date,
            CASE WHEN regexp_matches(trim(date_of_birth), '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$')
                 THEN trim(date_of_birth) END AS dob_text,
            upper(trim(sex)) AS sex_raw,
            nullif(regexp_replace(nhs_number, '[^0-9]', '', 'g'), '') AS nhs_digits,
            nullif(regexp_replace(upper(other_id), '[^A-Z0-9]', '', 'g'), '') AS other_id,
            nullif(regexp_replace(upper(postcode), '[^A-Z0-9]', '', 'g'), '') AS pc,
            nullif(regexp_replace(uprn, '[^0-9]', '', 'g'), '') AS uprn_digits,
            {clean_text_sql("address", keep="A-Z0-9 ,")} AS address_clean
            {"".join(f', "{c}"' for c in extras)}
        FROM raw_text
    ),
    parts AS (
        SELECT *,
            list_filter(string_split(given_clean, ' '), lambda t: t <> '') AS given_tokens,
            list_filter(string_split(surname_clean, ' '), lambda t: t <> '') AS surname_parts,
            CASE WHEN regexp_matches(pc, '^[A-Z]{{1,2}}[0-9][A-Z0-9]?[0-9][A-Z]{{2}}$')
                 THEN pc[1:length(pc) - 3] || ' ' || pc[length(pc) - 2:] END AS uk_postcode
        FROM cleaned
    ),
    named AS (
        SELECT *,
            given_tokens[1] AS first_given,
            CASE WHEN len(given_tokens) > 1 THEN given_tokens[2] END AS second_given
        FROM parts
    ),
"""


def _standardised_sql(extras: list[str]) -> str:
    """The standardised columns, the nickname groups joined by the first given name."""
    # A CASE in the lambda: a MAP literal there is rebuilt for every word and is far slower.
    expand = (
        "CASE t "
        + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in ABBREVIATIONS.items())
        + " ELSE t END"
    )
    nhs_weights = " + ".join(
        f"TRY_CAST(substr(nhs_digits, {i + 1}, 1) AS INTEGER) * {10 - i}" for i in range(9)
    )
    extra_sql = "".join(f', r."{c}"' for c in extras)
    return f"""
    standardised AS (
    SELECT
        n._row,
        n.source || '|' || n.record_id AS uid,
        n.source,
        n.record_id,
        n.first_given AS given_name,
        n.second_given AS given_other,
        coalesce(a.groups, []::VARCHAR[]) AS given_aliases,
        substr(n.first_given, 1, 1) AS given_initial,
        coalesce(length(n.first_given) = 1, false) AS given_is_initial,
        nullif(array_to_string(n.surname_parts, ''), '') AS surname,
        CASE WHEN len(n.surname_parts) > 1 THEN n.surname_parts END AS surname_tokens,
        -- A date that cannot exist (1945-04-93) is kept as text: a keying error in it still
        -- compares as one digit apart, though it has no year, month or swapped form.
        coalesce(strftime(n.dob_date, '%Y-%m-%d'), n.dob_text) AS dob,
        CASE WHEN day(n.dob_date) <= 12 AND day(n.dob_date) <> month(n.dob_date)
             THEN strftime(make_date(year(n.dob_date), day(n.dob_date), month(n.dob_date)),
                           '%Y-%m-%d') END AS dob_swap,
        year(n.dob_date) AS dob_year,
        month(n.dob_date) AS dob_month,
        CASE WHEN n.sex_raw IN ('M', 'MALE', '1', 'MAN') THEN 'M'
             WHEN n.sex_raw IN ('F', 'FEMALE', '2', 'WOMAN') THEN 'F' END AS sex,
        n.nhs_digits AS nhs_number,
        coalesce(length(n.nhs_digits) = 10 AND
            ((11 - (({nhs_weights.replace("nhs_digits", "n.nhs_digits")}) % 11)) % 11)
                = TRY_CAST(substr(n.nhs_digits, 10, 1) AS INTEGER), false) AS nhs_valid,
        n.other_id,
        nullif(trim(regexp_replace(replace(n.address_clean, ',', ' '), ' +', ' ', 'g')), '')
            AS address,
        nullif(replace(replace(n.address_clean, ',', ''), ' ', ''), '') AS address_compact,
        list_transform(
            list_filter(string_split(replace(n.address_clean, ',', ' '), ' '),
                        lambda t: t <> '' AND t <> coalesce(n.pc, '')
                                  AND NOT regexp_matches(t, '^[0-9]+[A-Z]?$')),
            lambda t: {expand}) AS _words_in_order,
        nullif(list_distinct(list_transform(
            list_filter(string_split(replace(n.address_clean, ',', ' '), ' '),
                        lambda t: t <> '' AND t <> coalesce(n.pc, '')
                                  AND NOT regexp_matches(t, '^[0-9]+[A-Z]?$')),
            lambda t: {expand})), []) AS address_tokens,
        list_filter(string_split(replace(n.address_clean, ',', ' '), ' '),
                    lambda t: regexp_matches(t, '^[0-9]+[A-Z]?$'))[1] AS house_number,
        nullif(array_to_string(list_transform(list_filter(string_split(
            list_filter(string_split(n.address_clean, ','),
                        lambda p: regexp_matches(p, '[A-Z]'))[1], ' '),
            lambda t: t <> '' AND NOT regexp_matches(t, '^[0-9]+[A-Z]?$')),
            lambda t: {expand}), ' '), '') AS street,
        coalesce(n.uk_postcode, n.pc) AS postcode,
        -- Its characters in order: equal for two postcodes that differ by a swap.
        array_to_string(list_sort(string_split(n.pc, '')), '') AS postcode_sorted,
        CASE WHEN n.uk_postcode IS NOT NULL
             THEN n.uk_postcode[1:length(n.uk_postcode) - 2] END AS postcode_sector,
        CASE WHEN n.uk_postcode IS NOT NULL
             THEN split_part(n.uk_postcode, ' ', 1) END AS postcode_district,
        n.uprn_digits AS uprn
        {extra_sql.replace('r."', 'n."')}
    FROM named n
    LEFT JOIN nicknames a ON a.name = n.first_given
    ),
"""


_UNCOMMON_WORDS_SQL = """
    word_counts AS (
        SELECT word, count(*) AS n FROM (SELECT unnest(address_tokens) AS word FROM standardised)
        GROUP BY word
    ),
    common_words AS (
        SELECT coalesce(list(word), []::VARCHAR[]) AS words FROM word_counts
        WHERE n > greatest(20, 0.002 * (SELECT count(*) FROM standardised))
    )
    -- Words shared by many addresses (STREET, a county, a big town) say little about a person.
    SELECT s.* EXCLUDE (address_tokens, _words_in_order),
        -- Parts that blocking rules compare: computed once here, not for every candidate pair.
        substr(s.surname, 1, 1) AS surname_initial,
        substr(s.surname, 1, 2) AS surname_prefix,
        substr(s.dob, 6, 5) AS dob_month_day,
        substr(s.dob, 1, 7) AS dob_year_month,
        substr(s.dob, 1, 4) || substr(s.dob, 9, 2) AS dob_year_day,
        nullif(list_filter(s.address_tokens, lambda t: NOT list_contains(c.words, t)), [])
            AS address_tokens,
        -- The last uncommon word (usually the locality): a blocking key that survives typos
        -- and a missing house number elsewhere in the address.
        list_filter(s._words_in_order, lambda t: NOT list_contains(c.words, t))[-1]
            AS address_key
    FROM standardised s, common_words c
"""


def standardise_into(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, table: str) -> None:
    """Standardise inside DuckDB into ``table``: no Python per value, no copy back to pandas.

    Every canonical value is cast to text in SQL (an absent column is NULL), so numbers,
    dates or mixed columns all arrive as strings.
    """
    sql = standardise_sql(frame)
    # Row numbers come with the input: a window over the scan would run on one thread.
    con.register("raw_input", frame.assign(**{_INPUT_ROW: np.arange(len(frame), dtype=np.int64)}))
    con.register("nicknames", nickname_groups())
    try:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {sql}")
    finally:
        con.unregister("raw_input")
        con.unregister("nicknames")
    missing = con.execute(f"SELECT count(*) FROM {table} WHERE record_id IS NULL").fetchone()[0]
    if missing:
        raise ValueError("every record needs a record_id")
    dupes = con.execute(
        f"SELECT source, record_id FROM {table} GROUP BY ALL HAVING count(*) > 1 "
        "ORDER BY ALL LIMIT 3"
    ).fetchall()
    if dupes:
        raise ValueError(
            "record_id must be unique within each source; repeated: "
            + ", ".join(f"{s} row id {r!r}" for s, r in dupes)
        )
