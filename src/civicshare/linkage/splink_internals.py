"""Every use of Splink's internals in civicshare, in one place. Written for Splink 5.0.0.

Splink's public API (``Linker``, ``SettingsCreator``, ``DuckDBAPI``, ``SparkAPI``,
``linker.training``, ``linker.inference``, ``linker.table_management``) does not reach
everything the engine does: flooring m in EM, blocking one rule at a time, moving the prior,
training m from reviewers' labels, filling levels EM never saw. Those reach into
``splink.internals`` and into private attributes of the linker, its settings, comparisons
and comparison levels. They are all here, and nowhere else in ``civicshare.linkage``:

- ``expectation_maximisation.populate_m_u_from_lookup`` is wrapped (``install_em_m_floor``);
- ``linker._settings_obj``, ``linker._db_api``, ``linker._input_tables_dict``;
- settings ``_probability_two_random_records_match``,
  ``_blocking_rules_to_generate_predictions``,
  ``_columns_to_select_for_comparison_vector_values``, ``column_info_settings``;
- comparison ``_comparison_levels_excluding_null``, ``_gamma_column_name``; level
  ``_m_probability``, ``_fix_m_probability``;
- ``blocking.combine_unique_id_input_columns``,
  ``unique_id_concat._composite_unique_id_from_nodes_sql``,
  ``block_from_labels.block_from_labels``,
  ``comparison_vector_values.compute_comparison_vector_values_sql``,
  ``pipeline.CTEPipeline``, ``vertically_concatenate.enqueue_df_concat_with_tf``,
  ``constants.LEVEL_NOT_OBSERVED_TEXT``.

pyproject.toml pins the Splink version this was written for (``SPLINK_VERSION``), and
``tests/linkage/test_splink_internals.py`` fails, naming what changed, when an upgrade
removes or reshapes any of them. Upgrading Splink means rereading this module against the
new version first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

SPLINK_VERSION = "5.0.0"

# EM in Splink 5.0.0 can estimate an m probability of exactly 0 for a level that only
# non-matches reach (seen on small files), and the setter then raises. A floor keeps such a
# level strongly negative without making one field veto every other agreement.
M_PROBABILITY_FLOOR = 1e-6


def install_em_m_floor() -> None:
    """Floor every m probability EM estimates at ``M_PROBABILITY_FLOOR`` (once per process)."""
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
    populate._civicshare_original = original
    em.populate_m_u_from_lookup = populate


# -- the prior ------------------------------------------------------------------------------


def clamp_prior(linker: Any, low: float, high: float) -> None:
    """Keep the linker's probability that two random records match within [low, high]."""
    settings = linker._settings_obj
    settings._probability_two_random_records_match = min(
        max(settings._probability_two_random_records_match, low), high
    )


# -- comparisons and their levels -------------------------------------------------------------


def comparisons(linker: Any) -> list[Any]:
    """The linker's comparisons (Splink ``Comparison`` objects, with their m and u)."""
    return linker._settings_obj.comparisons


def m_of(level: Any) -> Any:
    """A level's m as set (a number, None, or ``LEVEL_NOT_OBSERVED_TEXT``)."""
    return level._m_probability


def m_is_fixed(level: Any) -> bool:
    """Whether the level's m is set by design and not to be estimated."""
    return bool(level._fix_m_probability)


def m_unobserved(level: Any) -> bool:
    """No m estimated for the level: EM saw no match reach it."""
    from splink.internals.constants import LEVEL_NOT_OBSERVED_TEXT

    return level._m_probability in (None, LEVEL_NOT_OBSERVED_TEXT)


def estimable_levels(comparison: Any) -> Iterator[Any]:
    """The comparison's levels other than its null level whose m is not fixed."""
    for level in comparison._comparison_levels_excluding_null:
        if not level._fix_m_probability:
            yield level


def gamma_column(comparison: Any) -> str:
    return comparison._gamma_column_name


# -- comparison vectors of labelled pairs ---------------------------------------------------


def label_comparison_vectors(linker: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """The comparison vectors (``gamma_`` columns) of the labelled pairs in ``frame``.

    ``frame``: ``source_l, uid_l, source_r, uid_r``; the source columns are dropped when the
    linker works on one table (the uid names the source already)."""
    from splink.internals.block_from_labels import block_from_labels
    from splink.internals.comparison_vector_values import compute_comparison_vector_values_sql
    from splink.internals.pipeline import CTEPipeline
    from splink.internals.vertically_concatenate import enqueue_df_concat_with_tf

    settings = linker._settings_obj
    if not settings.column_info_settings.source_dataset_column_name:
        frame = frame[["uid_l", "uid_r"]]
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
    return gammas


# -- blocking one rule at a time (DuckDB) ---------------------------------------------------


def register_blocked_pairs(linker: Any) -> None:
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
