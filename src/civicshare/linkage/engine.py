"""The linkage engine: standardise person records, train a Splink 5 model, score and cluster.

This is the part of linkage the person index, file mode and evaluations share. It knows nothing
of the governance store: callers pass pandas frames of *canonical records* and get frames back.

Canonical records
    ``CANONICAL_COLUMNS``: ``source`` (which dataset or file), ``record_id`` (unique within its
    source), ``given_name``, ``surname``, ``date_of_birth`` (ISO ``yyyy-mm-dd`` string or None),
    ``sex``, ``nhs_number``, ``other_id`` (any identifier the sources share), ``address`` (one
    line), ``postcode``, ``uprn``; every value a ``str`` or None. A column that is absent is
    treated as all-None, and its comparison is left out of a model trained on such records.
    Extra columns (``age_band``, ``ethnic_group``, ``easting``/``northing`` in metres ...) pass
    through ``standardise`` untouched.

Public functions
    ``standardise(frame) -> DataFrame``
        Cleaned records for comparison (upper case, accents and punctuation removed, name
        tokens and aliases, day/month-swapped date of birth, postcode sector and district,
        address tokens, NHS number check digit). ``train`` and ``predict`` call it themselves
        when given canonical records; calling it first is only a saving when reusing records.
    ``train(records, *, seed=1, backend="duckdb", spark=None, labels=None) -> LinkageModel``
        Estimates the model on the records themselves (u by random sampling, m by EM, then
        reviewers' accepted pairs in ``labels`` when there are enough). The
        ``LinkageModel`` dataclass holds the Splink settings JSON (``to_json``/``from_json``)
        and ``recommended_threshold``, the match probability that maximises the F1 the model
        itself expects on the training records (see decision 0009).
    ``predict(model, records, *, existing=None, threshold=None, link_only=False,
    backend="duckdb", spark=None, detail=True) -> DataFrame``
        Scored candidate pairs: ``source_l, record_id_l, source_r, record_id_r, match_weight,
        match_probability``, then per comparison ``gamma_<name>`` and ``mw_<name>`` (its match
        weight) so a reviewer can draw a waterfall; ``detail=False`` leaves those out, which
        makes scoring about a tenth cheaper (a caller that only thresholds and clusters).
        ``threshold`` filters on match probability (None: every candidate pair). With
        ``existing`` (canonical records already linked) only new-new and new-existing pairs
        are scored, never existing-existing: incremental linking. ``link_only`` scores only
        pairs from different sources.
    ``train_and_predict(records, *, seed=1, link_only=False, score_floor=None, detail=True,
    ...)``
        ``train`` and ``predict`` in one pass over the same records: ``(model, pairs)``, the
        pairs with probability at least ``score_floor`` (``detail`` as in ``predict``).
    ``cluster(records, pairs, threshold) -> DataFrame``
        ``source, record_id, cluster_id``: connected components of the pairs at or above the
        threshold; every record gets a cluster, singletons included. ``cluster_id`` is the
        smallest ``source|record_id`` of its members, so it is stable across runs.

Backends: DuckDB (default, in process) or Spark (``backend="spark"`` with a SparkSession) for
data beyond one machine; the model and the SQL are the same. On DuckDB, ``memory_limit`` (on
``train``, ``predict`` and ``train_and_predict``; default ``DEFAULT_MEMORY_LIMIT``) bounds the
connection, which spills to a private temporary directory beyond it. On Spark, ``records``
may also be a Spark DataFrame of canonical columns: it is standardised in Spark
(``spark_standardise``, the same values as ``standardise``) and never collected to the driver.
"""

from __future__ import annotations

import csv
import json
import logging
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from civicshare.linkage import comparisons

CANONICAL_COLUMNS = (
    "source",
    "record_id",
    "given_name",
    "surname",
    "date_of_birth",
    "sex",
    "nhs_number",
    "other_id",
    "address",
    "postcode",
    "uprn",
)

# Columns that standardise() adds; their presence marks a frame as already standardised.
STANDARD_COLUMNS = (
    "uid",
    "source",
    "record_id",
    "given_name",
    "given_other",
    "given_aliases",
    "given_initial",
    "given_is_initial",
    "surname",
    "surname_tokens",
    "surname_initial",
    "surname_prefix",
    "dob",
    "dob_swap",
    "dob_month_day",
    "dob_year_month",
    "dob_year_day",
    "dob_year",
    "dob_month",
    "sex",
    "nhs_number",
    "nhs_valid",
    "other_id",
    "address",
    "address_compact",
    "address_tokens",
    "house_number",
    "street",
    "address_key",
    "postcode",
    "postcode_sorted",
    "postcode_sector",
    "postcode_district",
    "uprn",
)

# Splink logs every step at INFO; the CLI has its own progress output.
logging.getLogger("splink").setLevel(logging.ERROR)

# EM in Splink 5.0.0 can estimate an m probability of exactly 0 for a level that only
# non-matches reach (seen on small files), and the setter then raises. A floor keeps such a
# level strongly negative without making one field veto every other agreement.
M_PROBABILITY_FLOOR = 1e-6


def _floor_em_m_probabilities() -> None:
    from splink.internals import expectation_maximisation as em

    if getattr(em.populate_m_u_from_lookup, "_civicshare_floor", False):
        return
    original = em.populate_m_u_from_lookup

    def populate(training_fixed_probabilities, comparison_level, output_column_name, lookup):
        for levels in lookup.values():
            for record in levels.values():
                m = record.get("m_probability")
                if isinstance(m, (int, float)) and m < M_PROBABILITY_FLOOR:
                    record["m_probability"] = M_PROBABILITY_FLOOR
        return original(training_fixed_probabilities, comparison_level, output_column_name, lookup)

    populate._civicshare_floor = True
    em.populate_m_u_from_lookup = populate


_floor_em_m_probabilities()

MIN_RECOMMENDED_THRESHOLD = 0.5
MAX_RECOMMENDED_THRESHOLD = 0.999


# ---------------------------------------------------------------------------------------------
# Standardisation
# ---------------------------------------------------------------------------------------------


def _nickname_groups() -> pd.DataFrame:
    """name -> list of alias groups it belongs to (a group is named by its formal name)."""
    text = resources.files("civicshare.linkage").joinpath("data/nicknames.csv").read_text()
    rows = [line for line in text.splitlines() if line and not line.startswith("#")]
    membership: dict[str, set[str]] = {}
    for row in list(csv.reader(rows))[1:]:
        group = row[0].strip().upper()
        for name in {group, *(part.strip().upper() for part in row[1:])}:
            if name:
                membership.setdefault(name, set()).add(group)
    return pd.DataFrame(
        {"name": list(membership), "groups": [sorted(g) for g in membership.values()]}
    )


_ABBREVIATIONS = {
    "RD": "ROAD",
    "ST": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "CL": "CLOSE",
    "DR": "DRIVE",
    "LN": "LANE",
    "CRES": "CRESCENT",
    "CRESC": "CRESCENT",
    "PL": "PLACE",
    "CT": "COURT",
    "GDNS": "GARDENS",
    "GRN": "GREEN",
    "GR": "GROVE",
    "TCE": "TERRACE",
    "TER": "TERRACE",
    "SQ": "SQUARE",
    "HSE": "HOUSE",
    "FLT": "FLAT",
    "APT": "APARTMENT",
    "CIR": "CIRCUIT",
    "PDE": "PARADE",
    "HWY": "HIGHWAY",
}


def _clean_text_sql(column: str, keep: str = "A-Z ") -> str:
    """Upper case, accents stripped, apostrophes dropped, other punctuation to spaces."""
    return (
        "nullif(trim(regexp_replace(regexp_replace(regexp_replace("
        f"upper(strip_accents(CAST({column} AS VARCHAR))), '[''`’]', '', 'g'), "
        f"'[^{keep}]', ' ', 'g'), ' +', ' ', 'g')), '')"
    )


def is_standardised(frame: pd.DataFrame) -> bool:
    return "uid" in frame.columns and "given_aliases" in frame.columns


def standardise(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical records cleaned for comparison; extra columns pass through."""
    if is_standardised(frame):
        return frame
    con = duckdb.connect()
    try:
        _standardise_into(con, frame, "standardised_records")
        return con.execute("SELECT * EXCLUDE (_row) FROM standardised_records ORDER BY _row").df()
    finally:
        con.close()


_INPUT_ROW = "__civicshare_input_row"


def _standardise_into(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame, table: str) -> None:
    """Standardise inside DuckDB into ``table``: no Python per value, no copy back to pandas.

    Every canonical value is cast to text in SQL (an absent column is NULL), so numbers,
    dates or mixed columns all arrive as strings.
    """
    extras = [c for c in frame.columns if c not in CANONICAL_COLUMNS and c not in STANDARD_COLUMNS]
    present = set(frame.columns)
    as_text = ",\n".join(
        f"nullif(trim(CAST(\"{c}\" AS VARCHAR)), '') AS {c}"
        if c in present
        else f"CAST(NULL AS VARCHAR) AS {c}"
        for c in CANONICAL_COLUMNS
    )
    # A CASE in the lambda: a MAP literal there is rebuilt for every word and is far slower.
    expand = (
        "CASE t "
        + " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _ABBREVIATIONS.items())
        + " ELSE t END"
    )
    nhs_weights = " + ".join(
        f"TRY_CAST(substr(nhs_digits, {i + 1}, 1) AS INTEGER) * {10 - i}" for i in range(9)
    )
    extra_sql = "".join(f', r."{c}"' for c in extras)
    sql = f"""
    WITH raw_text AS (
        SELECT "{_INPUT_ROW}" AS _row, {as_text}{"".join(f', "{c}"' for c in extras)}
        FROM raw_input
    ),
    cleaned AS (
        SELECT
            _row,
            coalesce(source, 'records') AS source,
            record_id,
            {_clean_text_sql("given_name")} AS given_clean,
            {_clean_text_sql("surname")} AS surname_clean,
            try_strptime(trim(date_of_birth), '%Y-%m-%d')::DATE AS dob_date,
            CASE WHEN regexp_matches(trim(date_of_birth), '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}$')
                 THEN trim(date_of_birth) END AS dob_text,
            upper(trim(sex)) AS sex_raw,
            nullif(regexp_replace(nhs_number, '[^0-9]', '', 'g'), '') AS nhs_digits,
            nullif(regexp_replace(upper(other_id), '[^A-Z0-9]', '', 'g'), '') AS other_id,
            nullif(regexp_replace(upper(postcode), '[^A-Z0-9]', '', 'g'), '') AS pc,
            nullif(regexp_replace(uprn, '[^0-9]', '', 'g'), '') AS uprn_digits,
            {_clean_text_sql("address", keep="A-Z0-9 ,")} AS address_clean
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
    # Row numbers come with the input: a window over the scan would run on one thread.
    con.register("raw_input", frame.assign(**{_INPUT_ROW: np.arange(len(frame), dtype=np.int64)}))
    con.register("nicknames", _nickname_groups())
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


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


@dataclass
class LinkageModel:
    """A trained model: Splink settings (with m and u) and the threshold it recommends."""

    settings: dict[str, Any]
    recommended_threshold: float
    fields: list[str] = field(default_factory=list)
    labelled_matches: int = 0  # reviewers' accepted pairs that trained m (0: none used)

    def to_json(self) -> str:
        return json.dumps(
            {
                "splink_settings": self.settings,
                "recommended_threshold": self.recommended_threshold,
                "fields": self.fields,
                "labelled_matches": self.labelled_matches,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> LinkageModel:
        data = json.loads(text)
        return cls(
            settings=data["splink_settings"],
            recommended_threshold=float(data["recommended_threshold"]),
            fields=list(data.get("fields", [])),
            labelled_matches=int(data.get("labelled_matches", 0)),
        )


# Which standardised column must hold data for each comparison to be used.
_FIELD_COLUMNS = {
    "nhs_number": "nhs_number",
    "other_id": "other_id",
    "given_name": "given_name",
    "surname": "surname",
    "date_of_birth": "dob",
    "sex": "sex",
    "postcode": "postcode",
    "uprn": "uprn",
    "address": "address",
}


def _profile(counts: dict[str, int], rows: int, columns: list[str]) -> dict[str, Any]:
    """What the records hold: the fields with data, UK postcodes, coordinates."""
    fields = []
    for name, column in _FIELD_COLUMNS.items():
        filled = counts.get(column, 0)
        if filled >= 2 and filled >= 0.01 * rows:
            fields.append(name)
    postcodes = counts.get("postcode", 0)
    return {
        "rows": rows,
        "fields": fields,
        # Most postcodes have the UK shape, so sector and district levels mean something.
        "uk": bool(postcodes) and counts.get("postcode_sector", 0) >= 0.5 * postcodes,
        "distance": {"easting", "northing"} <= set(columns) and "postcode" in fields,
    }


def _profile_table(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, Any]:
    columns = [*_FIELD_COLUMNS.values(), "postcode_sector"]
    counted = con.execute(
        "SELECT count(*), " + ", ".join(f'count("{c}")' for c in columns) + f" FROM {table}"
    ).fetchone()
    names = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
    return _profile(dict(zip(columns, counted[1:], strict=True)), counted[0], names)


def _comparisons_for(fields: list[str], with_distance: bool, uk: bool = True) -> list:
    builders = {
        "nhs_number": comparisons.nhs_number,
        "other_id": comparisons.other_id,
        "given_name": comparisons.given_name,
        "surname": comparisons.surname,
        "date_of_birth": comparisons.date_of_birth,
        "sex": comparisons.sex,
    }
    built = [builders[name]() for name in fields if name in builders]
    if "postcode" in fields:
        built.append(comparisons.postcode(with_distance, uk))
    if "address" in fields:
        built.append(comparisons.address(with_uprn="uprn" in fields))
    elif "uprn" in fields:
        built.append(comparisons.uprn())
    return built


# Corroboration for the blocking rules that grow with the square of the data: two keys such as a
# full name or a postcode and an initial admit millions of pairs in a large population, nearly
# all of them strangers. Each such rule also asks one more piece of evidence to agree, or to be
# missing (a missing field is no evidence against).
_DOB_PARTLY = (
    "(l.dob IS NULL OR r.dob IS NULL OR l.dob_month_day = r.dob_month_day"
    " OR l.dob_year_month = r.dob_year_month OR l.dob_year_day = r.dob_year_day)"
)
_SAME_POSTCODE = "l.postcode = r.postcode"
_HOUSE_AGREES_OR_MISSING = (
    "(l.house_number IS NULL OR r.house_number IS NULL OR l.house_number = r.house_number)"
)
_SAME_STREET = "l.street = r.street"
_SURNAME_INITIAL = "l.surname_initial = r.surname_initial"
_GIVEN_INITIAL = "l.given_initial = r.given_initial"


def _corroborated(rule: str, *evidence: str) -> str:
    return f"{rule} AND ({' OR '.join(evidence)})"


def _blocking_rules(fields: list[str]) -> list[str]:
    """Candidate pairs: any rule admits a pair. Each rule is an equi-join, narrowed where needed.

    Measured per rule (docs/benchmarks.md, "Linkage engine"): every rule here admits true pairs
    no other does on FEBRL4 or the county; the corroborated ones keep those pairs while
    admitting a twentieth of the strangers at 500,000 records a side. Splink tests each pair a
    rule admits against every rule before it (so no pair is scored twice), so the rules whose
    joins admit the most pairs before corroboration come first.
    """
    rules = []
    has = set(fields).__contains__
    address = has("address")
    names = has("surname") and has("given_name")
    if names:
        rules.append(
            _corroborated(
                "l.surname = r.surname AND l.given_name = r.given_name",
                _SAME_POSTCODE,
                _HOUSE_AGREES_OR_MISSING,
                _SAME_STREET,
                _DOB_PARTLY,
            )
        )
    # House number with a name: the number alone is too common (every street has a 1), so each
    # rule also asks for an initial, and then for the street or the date of birth.
    if address and names:
        rules.append(
            _corroborated(
                "l.house_number = r.house_number AND l.given_name = r.given_name"
                " AND l.surname_initial = r.surname_initial",
                _SAME_POSTCODE,
                _SAME_STREET,
                _DOB_PARTLY,
            )
        )
    if has("postcode") and has("given_name"):
        rules.append(
            _corroborated(
                "l.postcode = r.postcode AND l.given_initial = r.given_initial",
                _HOUSE_AGREES_OR_MISSING,
                _SURNAME_INITIAL,
                _DOB_PARTLY,
            )
        )
    if has("date_of_birth") and has("given_name"):
        rules.append(
            _corroborated(
                "l.dob = r.dob AND l.given_initial = r.given_initial",
                _SAME_POSTCODE,
                _HOUSE_AGREES_OR_MISSING,
                _SURNAME_INITIAL,
                _SAME_STREET,
            )
        )
    if has("nhs_number"):
        rules.append("l.nhs_number = r.nhs_number")
    if has("other_id"):
        rules.append("l.other_id = r.other_id")
    if has("date_of_birth") and has("surname"):
        rules.append("l.dob = r.dob AND l.surname_prefix = r.surname_prefix")
        rules.append("l.dob_swap = r.dob AND l.surname = r.surname")
    if names:
        rules.append("l.given_name = r.surname AND l.surname = r.given_name")
    if has("postcode") and has("surname"):
        rules.append(
            _corroborated(
                "l.postcode = r.postcode AND l.surname_prefix = r.surname_prefix",
                _HOUSE_AGREES_OR_MISSING,
                _DOB_PARTLY,
            )
        )
    if has("uprn") and has("given_name"):
        rules.append("l.uprn = r.uprn AND l.given_initial = r.given_initial")
    if has("date_of_birth") and has("postcode"):
        rules.append("l.dob = r.dob AND l.postcode = r.postcode")
    if address and has("postcode"):
        # The same address, whatever else differs: FEBRL4 holds true pairs whose names and date
        # of birth are all corrupted.
        rules.append("l.postcode = r.postcode AND l.house_number = r.house_number")
    if address:
        rules.append("l.house_number = r.house_number AND l.street = r.street")
    if address and names:
        rules.append(
            _corroborated(
                "l.house_number = r.house_number AND l.surname = r.surname"
                " AND l.given_initial = r.given_initial",
                _SAME_POSTCODE,
                _SAME_STREET,
                _DOB_PARTLY,
            )
        )
    if address and has("date_of_birth"):
        rules.append("l.dob = r.dob AND l.house_number = r.house_number")
        rules.append("l.dob = r.dob AND l.address_key = r.address_key")
    if address and has("given_name"):
        rules.append("l.given_name = r.given_name AND l.address_key = r.address_key")
    if address and has("surname"):
        rules.append("l.surname_prefix = r.surname_prefix AND l.address_key = r.address_key")
    if len(rules) < 2:
        # Few fields mapped: fall back to agreeing on any one of the stronger ones.
        for name, column in (
            ("given_name", "given_name"),
            ("surname", "surname"),
            ("date_of_birth", "dob"),
            ("postcode", "postcode"),
        ):
            if has(name):
                rules.append(f"l.{column} = r.{column}")
    if not rules:
        raise ValueError(
            "map at least one of given_name, surname, date_of_birth, postcode or an identifier"
        )
    return rules


def _restrict(rules: list[str], condition: str | None) -> list[str]:
    if not condition:
        return rules
    return [f"({rule}) AND ({condition})" for rule in rules]


RECORDS_TABLE = "civicshare_records"


# DuckDB's own default is 80% of the machine's memory. A linkage run inside the gateway shares
# the machine, so it gets a budget and spills to disk beyond it (docs/linkage.md, "Memory").
DEFAULT_MEMORY_LIMIT = "1536MB"


def _connect(memory_limit: str | None) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A connection with a memory budget, spilling to its own directory (not the cwd)."""
    spill = tempfile.mkdtemp(prefix="civicshare-linkage-")
    con = duckdb.connect(
        config={"memory_limit": memory_limit or DEFAULT_MEMORY_LIMIT, "temp_directory": spill}
    )
    return con, spill


def _release(backend: str, db_api: Any) -> None:
    """Close the DuckDB connection Splink worked in: its tables are gigabytes at scale."""
    if backend == "duckdb":
        db_api.duckdb_con.close()


def _prepare(
    records: pd.DataFrame,
    backend: str,
    spark: Any,
    existing: pd.DataFrame | None = None,
    memory_limit: str | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Standardised records registered with a Splink backend: (db_api, table, profile).

    With ``existing``, the table holds both, ``is_new`` telling them apart (a record in both
    counts as new). On DuckDB the records are standardised inside the connection Splink then
    uses, so nothing is copied back to pandas.
    """
    if backend == "duckdb":
        from splink import DuckDBAPI

        con, spill = _connect(memory_limit)
        _into(con, records, "civicshare_new")
        if existing is not None:
            _into(con, existing, "civicshare_existing")
            con.execute(
                f"CREATE TABLE {RECORDS_TABLE} AS "
                "SELECT *, true AS is_new FROM civicshare_new UNION ALL BY NAME "
                "SELECT *, false AS is_new FROM civicshare_existing "
                "WHERE uid NOT IN (SELECT uid FROM civicshare_new)"
            )
        else:
            con.execute(f"ALTER TABLE civicshare_new RENAME TO {RECORDS_TABLE}")
        profile = _profile_table(con, RECORDS_TABLE)
        db_api = DuckDBAPI(connection=con)
        weakref.finalize(db_api, shutil.rmtree, spill, True)
        return db_api, db_api.register(RECORDS_TABLE, dataset_display_name=RECORDS_TABLE), profile
    if backend == "spark":
        return _prepare_spark(records, spark, existing)
    raise ValueError(f"unknown backend {backend!r}: use 'duckdb' or 'spark'")


# ---------------------------------------------------------------------------------------------
# Spark: records standardised inside Spark (linkage/spark_standardise.py), never on the driver
# ---------------------------------------------------------------------------------------------


def _prepare_spark(records: Any, spark: Any, existing: Any = None) -> tuple[Any, Any, dict]:
    """``_prepare`` on Spark: records as a pandas or a Spark DataFrame, standardised by Spark
    SQL functions into the columns DuckDB makes; only counts reach the driver."""
    import uuid

    from splink import SparkAPI

    from civicshare.linkage import spark_standardise

    if spark is None:
        raise ValueError("backend='spark' needs a SparkSession (spark=...)")
    frame = spark_standardise.standardise(spark, records)
    if existing is not None:
        frame = spark_standardise.with_existing(
            frame, spark_standardise.standardise(spark, existing)
        )
    frame = spark_standardise.materialise(spark, frame)
    profile = spark_standardise.profile(frame)
    db_api = SparkAPI(spark_session=spark)
    # A view of its own per call: a session can run several linkages (Splink refuses to
    # register a name that is already a table).
    view = f"{RECORDS_TABLE}_{uuid.uuid4().hex}"
    frame.createOrReplaceTempView(view)
    return db_api, db_api.register(view, dataset_display_name=RECORDS_TABLE), profile


def _register_blocked_pairs(linker: Any) -> None:
    """Candidate pairs one blocking rule at a time, registered for Splink to score (DuckDB).

    Splink's own blocking is one statement joining on every rule at once: a hash table of every
    record for each rule (gigabytes at 500,000 records a side), and each pair a rule admits
    tested against all the rules before it. Here each rule is its own join, and a pair admitted
    by several rules is kept once, under the first. The pairs are the same.
    """
    from splink.internals.blocking import combine_unique_id_input_columns
    from splink.internals.unique_id_concat import _composite_unique_id_from_nodes_sql

    db_api = linker._db_api
    con = db_api.duckdb_con
    settings = linker._settings_obj
    info = settings.column_info_settings
    id_columns = combine_unique_id_input_columns(
        info.source_dataset_input_column, info.unique_id_input_column
    )
    id_l = _composite_unique_id_from_nodes_sql(id_columns, "l")
    id_r = _composite_unique_id_from_nodes_sql(id_columns, "r")
    tables = [table.physical_name for table in linker._input_tables_dict.values()]
    if len(tables) == 2:  # link_only: one source against the other
        left, right, where = tables[0], tables[1], ""
    else:
        left, right, where = tables[0], tables[0], f"WHERE {id_l} < {id_r}"
    con.execute(
        "CREATE OR REPLACE TABLE civicshare_candidates "
        "(rule INTEGER, join_key_l VARCHAR, join_key_r VARCHAR)"
    )
    for number, rule in enumerate(settings._blocking_rules_to_generate_predictions):
        con.execute(
            f"INSERT INTO civicshare_candidates SELECT {number}, {id_l}, {id_r} "
            f"FROM {left} AS l JOIN {right} AS r ON {rule.blocking_rule_sql} {where}"
        )
    con.execute(
        "CREATE OR REPLACE TABLE civicshare_blocked_pairs AS "
        "SELECT CAST(min(rule) AS VARCHAR) AS match_key, join_key_l, join_key_r "
        "FROM civicshare_candidates GROUP BY join_key_l, join_key_r"
    )
    con.execute("DROP TABLE civicshare_candidates")
    linker.table_management.register_blocked_pairs_for_predict(
        db_api.register("civicshare_blocked_pairs")
    )


def _split_two_sources(backend: str, db_api: Any) -> list[Any] | None:
    """The records as one registered table per source when there are exactly two (DuckDB)."""
    if backend != "duckdb":
        return None
    con = db_api.duckdb_con
    sources = [r[0] for r in con.execute(f"SELECT DISTINCT source FROM {RECORDS_TABLE}").fetchall()]
    if len(sources) != 2:
        return None
    tables = []
    for number, source in enumerate(sorted(sources)):
        name = f"{RECORDS_TABLE}_{number}"
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM {RECORDS_TABLE} WHERE source = ?", [source]
        )
        tables.append(db_api.register(name, dataset_display_name=name))
    con.execute(f"DROP TABLE {RECORDS_TABLE}")
    return tables


def _into(con: duckdb.DuckDBPyConnection, records: pd.DataFrame, table: str) -> None:
    if is_standardised(records):
        con.register("civicshare_input", records)
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM civicshare_input")
        con.unregister("civicshare_input")
    else:
        _standardise_into(con, records, table)


PAIR_COLUMNS = [
    "source_l",
    "record_id_l",
    "source_r",
    "record_id_r",
    "match_weight",
    "match_probability",
]


def _pairs_frame(backend: str, db_api: Any, predictions: Any, detail: bool = True) -> pd.DataFrame:
    """Only the columns callers use, best pairs first; on DuckDB selected and sorted in SQL."""
    if backend == "duckdb":
        per_comparison = ", COLUMNS('^(mw|gamma)_')" if detail else ""
        return db_api.duckdb_con.execute(
            f"SELECT {', '.join(PAIR_COLUMNS)}{per_comparison} "
            f"FROM {predictions.physical_name} "
            "ORDER BY match_probability DESC, source_l, record_id_l, source_r, record_id_r"
        ).df()
    return _tidy_pairs(predictions.as_pandas_dataframe(), detail)


def _settings(
    fields: list[str],
    with_distance: bool,
    uk: bool,
    probability_two_random_records_match: float = 1e-4,
    detail: bool = True,
):
    from splink import SettingsCreator

    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=_comparisons_for(fields, with_distance, uk),
        blocking_rules_to_generate_predictions=_blocking_rules(fields),
        # Per-comparison columns only when the caller keeps them: carried through every
        # candidate pair before the threshold, they cost about a tenth of scoring's CPU.
        # (Splink keeps gamma_ only with the matching columns.)
        retain_matching_columns=detail,
        retain_intermediate_calculation_columns=detail,
        additional_columns_to_retain=["source", "record_id"],
        probability_two_random_records_match=probability_two_random_records_match,
        max_iterations=20,
    )


def _training_rules(fields: list[str]) -> list[str]:
    """EM sessions: each estimates m for the comparisons not used in its own rule.

    Rules that admit mostly true matches or mostly random pairs train well; a rule such as
    "same postcode" admits households (parents, children, twins), and EM then learns that
    people at one address are one person. So: an identifier when there is one (every other
    field), date of birth (names, address, postcode, the identifier), else full name (date of
    birth); never the address alone.
    """
    rules = []
    # An identifier trains every other field on (nearly) pure matches; date of birth then
    # trains the identifier itself.
    # The given name is in the rule too: a wrong NHS number is often another resident's, a
    # household member's, and such pairs would teach EM that relatives are one person.
    for identifier in ("nhs_number", "other_id"):
        if identifier in fields:
            rule = f"l.{identifier} = r.{identifier}"
            if "given_name" in fields:
                rule += " AND l.given_name = r.given_name"
            rules.append(rule)
            break
    if "date_of_birth" in fields:
        rules.append("l.dob = r.dob")
    no_identifier = not rules or rules == ["l.dob = r.dob"]
    if no_identifier and "surname" in fields and "given_name" in fields:
        rules.append("l.surname = r.surname AND l.given_name = r.given_name")
    if not rules:
        # Few fields: each session trains the others (the address risk is accepted here).
        for name, column in (
            ("given_name", "given_name"),
            ("surname", "surname"),
            ("postcode", "postcode"),
        ):
            if name in fields:
                rules.append(f"l.{column} = r.{column}")
    return rules


def _deterministic_rules(fields: list[str]) -> list[str]:
    rules = []
    if "nhs_number" in fields:
        rules.append("l.nhs_number = r.nhs_number AND l.nhs_valid")
    if {"given_name", "surname", "date_of_birth"} <= set(fields):
        rules.append("l.given_name = r.given_name AND l.surname = r.surname AND l.dob = r.dob")
    elif {"given_name", "surname", "postcode"} <= set(fields):
        rules.append(
            "l.given_name = r.given_name AND l.surname = r.surname AND l.postcode = r.postcode"
        )
    if "other_id" in fields and not rules:
        rules.append("l.other_id = r.other_id")
    return rules


def train_and_predict(
    records: pd.DataFrame,
    *,
    seed: int = 1,
    backend: str = "duckdb",
    spark: Any = None,
    link_only: bool = False,
    score_floor: float | None = None,
    em_max_pairs: float = 1e6,
    u_max_pairs: float = 1e6,
    detail: bool = True,
    memory_limit: str | None = None,
    labels: pd.DataFrame | None = None,
) -> tuple[LinkageModel, pd.DataFrame]:
    """Train on the records and score the same records: the model and its scored pairs.

    File mode and benchmarks use this to score once; ``train`` discards the pairs."""
    from splink import Linker

    db_api, table, profile = _prepare(records, backend, spark, memory_limit=memory_limit)
    fields = profile["fields"]
    condition = "l.source <> r.source" if link_only else None
    settings = _settings(fields, profile["distance"], profile["uk"], detail=detail)
    settings.blocking_rules_to_generate_predictions = _restrict(
        settings.blocking_rules_to_generate_predictions, condition
    )
    tables = _split_two_sources(backend, db_api) if link_only else None
    if tables:
        # Two sources: Splink joins one against the other instead of the whole table against
        # itself, a quarter of the rows through every blocking join.
        settings.link_type = "link_only"
        settings.source_dataset_column_name = "source"
    linker = Linker(tables or table, settings, log_level=None)
    deterministic = _restrict(_deterministic_rules(fields), condition)
    if deterministic:
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.7)
    # A file with no sure matches estimates a prior of 0, which breaks the weights: floor it at
    # one expected match among all pairs.
    all_pairs = max(profile["rows"] * (profile["rows"] - 1) / 2, 1)
    settings_obj = linker._settings_obj
    settings_obj._probability_two_random_records_match = min(
        max(settings_obj._probability_two_random_records_match, 1 / all_pairs), 0.5
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    for rule in _training_rules(fields):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                _restrict([rule], condition)[0], max_pairs=em_max_pairs
            )
        except (ValueError, ZeroDivisionError) as exc:
            # Too few pairs under this rule to estimate from (a small or clean file): the
            # other sessions and the default m values stand.
            logging.getLogger(__name__).warning("EM session %s skipped: %s", rule, exc)
    _fill_unobserved_m(linker)
    labelled = _train_from_labels(linker, labels, records, link_only) if labels is not None else 0
    _floor_moved_m(linker)
    if backend == "duckdb":
        _register_blocked_pairs(linker)
    predictions = linker.inference.predict(
        threshold_match_probability=score_floor, warning_mode="never"
    )
    pairs = _pairs_frame(backend, db_api, predictions, detail)
    settings_dict = linker.misc.save_model_to_json()
    _release(backend, db_api)
    threshold = recommended_threshold(pairs["match_probability"].to_numpy())
    return LinkageModel(settings_dict, threshold, fields, labelled), pairs


# Fewer accepted pairs than this say too little about how often each level occurs among
# matches: they are kept for a later run rather than trained on.
MIN_LABELLED_MATCHES = 10


# The model's own m counts as this many reviewed pairs when reviewers' labels update it: a
# few dozen decisions move it visibly, a handful cannot overturn what EM saw in a million pairs.
LABEL_PRIOR_STRENGTH = 100


def _train_from_labels(linker, labels: pd.DataFrame, records: Any, link_only: bool) -> int:
    """Reviewers' accepted pairs update m: how often each level occurs among matches.

    For each comparison, the accepted pairs are counted by level and added to the model's m
    (worth ``LABEL_PRIOR_STRENGTH`` pairs): m = (strength * m + count) / (strength + n), so
    each comparison's m still sums to what it did. The pairs reviewers see are the uncertain
    ones, so this mostly teaches which disagreements still occur among matches (a nickname, a
    typo in a surname). Rejected pairs do not train m (m is about matches); the person index
    keeps them apart instead. Returns the accepted pairs used; fewer than
    ``MIN_LABELLED_MATCHES`` and none are.
    """
    from splink.internals.block_from_labels import block_from_labels
    from splink.internals.comparison_vector_values import compute_comparison_vector_values_sql
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.vertically_concatenate import enqueue_df_concat_with_tf

    accepted = labels[labels["is_match"].astype(bool)]
    uid_l = accepted["source_l"].astype(str) + "|" + accepted["record_id_l"].astype(str)
    uid_r = accepted["source_r"].astype(str) + "|" + accepted["record_id_r"].astype(str)
    keep = np.ones(len(accepted), dtype=bool)
    if link_only:
        keep &= (accepted["source_l"] != accepted["source_r"]).to_numpy()
    if isinstance(records, pd.DataFrame):  # both records in this run (a Spark frame: the join)
        present = set(records["source"].astype(str) + "|" + records["record_id"].astype(str))
        keep &= uid_l.isin(present).to_numpy() & uid_r.isin(present).to_numpy()
    frame = pd.DataFrame(
        {
            "source_l": accepted["source_l"].astype(str).to_numpy()[keep],
            "uid_l": uid_l.to_numpy()[keep],
            "source_r": accepted["source_r"].astype(str).to_numpy()[keep],
            "uid_r": uid_r.to_numpy()[keep],
        }
    )
    if len(frame) < MIN_LABELLED_MATCHES:
        return 0
    settings = linker._settings_obj
    if not settings.column_info_settings.source_dataset_column_name:
        frame = frame[["uid_l", "uid_r"]]  # one table: the uid names the source already
    table = linker.table_management.register_table(frame, "civicshare_labels", overwrite=True)
    pipeline = CTEPipeline()
    enqueue_df_concat_with_tf(linker, pipeline)
    pipeline.enqueue_list_of_sqls(block_from_labels(linker, table.physical_name))
    pipeline.enqueue_sql(
        compute_comparison_vector_values_sql(
            settings._columns_to_select_for_comparison_vector_values
        ),
        "__splink__df_comparison_vectors",
    )
    vectors = linker._db_api.sql_pipeline_to_splink_dataframe(pipeline)
    gammas = vectors.as_pandas_dataframe()
    vectors.drop_table_from_database_and_remove_from_cache()
    table.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
    for comparison in settings.comparisons:
        # Levels with a fixed m (set by design, such as swapped names) keep it; the others
        # share what is left between them, as before.
        levels = [
            level
            for level in comparison._comparison_levels_excluding_null
            if not level._fix_m_probability
        ]
        observed = gammas[comparison._gamma_column_name]
        observed = observed[observed.isin([level.comparison_vector_value for level in levels])]
        if observed.empty:
            continue
        counts = observed.value_counts()
        priors = [
            m if isinstance(m := level._m_probability, (int, float)) else UNOBSERVED_M_PROBABILITY
            for level in levels
        ]
        mass = sum(priors)
        for level, prior in zip(levels, priors, strict=True):
            count = int(counts.get(level.comparison_vector_value, 0))
            share = (LABEL_PRIOR_STRENGTH * prior / mass + count) / (
                LABEL_PRIOR_STRENGTH + len(observed)
            )
            level.m_probability = max(mass * share, M_PROBABILITY_FLOOR)
    return len(frame)


UNOBSERVED_M_PROBABILITY = 1e-4


MOVED_M_PROBABILITY = 0.01


def _floor_moved_m(linker) -> None:
    """At least 1% of true matches live somewhere else now: people move.

    Address and postcode change together when someone moves, and EM reads that joint change
    as "not the same person", estimating m near 0 for the last level of both (seen at 350,000
    records and more: recall fell to 0.95, every miss a mover). A floor of 1% keeps a move
    a strong signal (about -6.6 per comparison) without making it a veto.
    """
    for comparison in linker._settings_obj.comparisons:
        if comparison.output_column_name not in ("address", "postcode"):
            continue
        last = comparison.comparison_levels[-1]
        m = last._m_probability
        if not last._fix_m_probability and (
            not isinstance(m, (int, float)) or m < MOVED_M_PROBABILITY
        ):
            last.m_probability = MOVED_M_PROBABILITY


def _fill_unobserved_m(linker) -> None:
    """Levels no true match reached in training get a small m, not Splink's default.

    A level can go unobserved because it is rare among matches (a date of birth ten years
    out) or because the training data is small; either way "rare among matches" is the safe
    reading. Splink would otherwise fall back to a default m that makes a generation's
    difference in date of birth look like mild disagreement.
    """
    from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT

    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level or level._fix_m_probability:
                continue
            if level._m_probability in (None, LEVEL_NOT_OBSERVED_TEXT):
                level.m_probability = UNOBSERVED_M_PROBABILITY


def recommended_threshold(probabilities: np.ndarray) -> float:
    """The match probability maximising the F1 the model expects of its own scores.

    Taking each pair's probability as the chance it is a match, the expected true positives at
    threshold t are the sum of p over pairs at or above t, the expected false positives the sum
    of 1 - p, and the expected matches in all the sum of p over every candidate pair.
    """
    p = np.sort(np.asarray(probabilities, dtype=float))[::-1]
    if len(p) == 0:
        return MIN_RECOMMENDED_THRESHOLD
    expected_matches = p.sum()
    true_positives = np.cumsum(p)
    false_positives = np.cumsum(1 - p)
    f1 = 2 * true_positives / (true_positives + false_positives + expected_matches)
    best = p[int(np.argmax(f1))]
    return float(min(max(best, MIN_RECOMMENDED_THRESHOLD), MAX_RECOMMENDED_THRESHOLD))


def train(
    records: pd.DataFrame,
    *,
    seed: int = 1,
    backend: str = "duckdb",
    spark: Any = None,
    link_only: bool = False,
    memory_limit: str | None = None,
    labels: pd.DataFrame | None = None,
) -> LinkageModel:
    """Estimate a model on canonical (or standardised) records.

    ``labels`` (``source_l, record_id_l, source_r, record_id_r, is_match``): reviewers'
    decisions; see ``_train_from_labels``."""
    model, _ = train_and_predict(
        records,
        seed=seed,
        backend=backend,
        spark=spark,
        link_only=link_only,
        score_floor=0.01,
        memory_limit=memory_limit,
        labels=labels,
    )
    return model


def _tidy_pairs(scored: pd.DataFrame, detail: bool = True) -> pd.DataFrame:
    extra = [c for c in scored.columns if detail and c.startswith(("gamma_", "mw_"))]
    pairs = scored[PAIR_COLUMNS + extra].copy()
    return pairs.sort_values(
        ["match_probability", "source_l", "record_id_l", "source_r", "record_id_r"],
        ascending=[False, True, True, True, True],
        ignore_index=True,
    )


def predict(
    model: LinkageModel,
    records: pd.DataFrame,
    *,
    existing: pd.DataFrame | None = None,
    threshold: float | None = None,
    link_only: bool = False,
    backend: str = "duckdb",
    spark: Any = None,
    detail: bool = True,
    memory_limit: str | None = None,
) -> pd.DataFrame:
    """Score candidate pairs of the records (and against ``existing`` when given)."""
    from splink import Linker

    incremental = existing is not None and len(existing) > 0
    db_api, table, _ = _prepare(
        records, backend, spark, existing if incremental else None, memory_limit=memory_limit
    )
    conditions = ["l.is_new OR r.is_new"] if incremental else []
    if link_only:
        conditions.append("l.source <> r.source")
    condition = " AND ".join(f"({c})" for c in conditions) or None
    settings = dict(model.settings)
    # One table here, whatever the model was trained on; the conditions above restrict pairs.
    settings["link_type"] = "dedupe_only"
    settings.pop("source_dataset_column_name", None)
    settings["retain_matching_columns"] = detail
    settings["retain_intermediate_calculation_columns"] = detail
    settings["blocking_rules_to_generate_predictions"] = _restrict(
        _blocking_rules(model.fields), condition
    )
    linker = Linker(table, settings, log_level=None)
    if backend == "duckdb":
        _register_blocked_pairs(linker)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    pairs = _pairs_frame(backend, db_api, predictions, detail)
    _release(backend, db_api)
    return pairs


def cluster(records: pd.DataFrame, pairs: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Connected components of the pairs at or above the threshold, singletons included."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    def text(values: pd.Series) -> pa.Array:
        # Arrow strings: sorting and joining a million ids is several times faster than in
        # Python objects.
        return pa.array(values.astype(str).to_numpy(dtype=object), type=pa.large_string())

    separator = pa.scalar("\x1f", pa.large_string())

    def keys(source: pd.Series, record_id: pd.Series) -> pa.Array:
        # A separator no id contains, so (source, record_id) is one string.
        return pc.binary_join_element_wise(text(source), text(record_id), separator)

    # Nodes sorted by key (Arrow sorts UTF-8 bytewise: the same order as Python's str), each
    # once, with its source and record_id alongside.
    source, record_id = text(records["source"]), text(records["record_id"])
    all_keys = pc.binary_join_element_wise(source, record_id, separator)
    order = pc.sort_indices(all_keys)
    sorted_keys = all_keys.take(order)
    first_of_key = np.ones(len(sorted_keys), dtype=bool)
    if len(sorted_keys) > 1:
        first_of_key[1:] = pc.not_equal(sorted_keys[1:], sorted_keys[:-1]).to_numpy(
            zero_copy_only=False
        )
    order = order.to_numpy()[first_of_key]
    nodes = pd.Index(sorted_keys.filter(pa.array(first_of_key)).to_numpy(zero_copy_only=False))
    node_source, node_record_id = source.take(order), record_id.take(order)
    kept = pairs[pairs["match_probability"] >= threshold]
    left = nodes.get_indexer(
        keys(kept["source_l"], kept["record_id_l"]).to_numpy(zero_copy_only=False)
    )
    right = nodes.get_indexer(
        keys(kept["source_r"], kept["record_id_r"]).to_numpy(zero_copy_only=False)
    )
    known = (left >= 0) & (right >= 0)
    n = len(nodes)
    graph = coo_matrix(
        (np.ones(int(known.sum()), dtype=np.int8), (left[known], right[known])), shape=(n, n)
    )
    count, labels = connected_components(graph, directed=False)
    # Nodes are sorted, so the first member of each component is its smallest id: the cluster
    # is named by it and ids do not depend on the order of the input.
    first = np.full(count, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    names = pc.binary_join_element_wise(
        node_source, node_record_id, pa.scalar("|", pa.large_string())
    )

    def column(values: pa.Array) -> pd.Series:
        return pd.Series(values.to_numpy(zero_copy_only=False), dtype="str")

    return pd.DataFrame(
        {
            "source": column(node_source),
            "record_id": column(node_record_id),
            "cluster_id": column(names.take(first[labels])),
        }
    )
