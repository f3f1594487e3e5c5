"""What ``civicshare.linkage.splink_internals`` relies on in Splink is still there.

The module reaches into Splink's private attributes and ``splink.internals``, which may change
in any release. pyproject.toml pins the exact version; when an upgrade is tried, these tests
say which piece moved, before a linkage run fails halfway or, worse, quietly scores otherwise.
"""

from __future__ import annotations

import importlib
import inspect
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from civicshare.linkage import engine, splink_internals

ROOT = Path(__file__).resolve().parents[2]

UPGRADE = (
    "civicshare/linkage/splink_internals.py is written for Splink {written}; {what}. "
    "Reread that module against the installed Splink before changing the pin."
)


def fail(what: str) -> None:
    pytest.fail(UPGRADE.format(written=splink_internals.SPLINK_VERSION, what=what), pytrace=False)


def test_installed_splink_is_the_pinned_one():
    installed = metadata.version("splink")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [d for d in pyproject["project"]["dependencies"] if re.match(r"splink\b", d)]
    constraints = re.findall(
        r"^splink==(\S+)", (ROOT / "requirements/constraints.txt").read_text(), re.M
    )
    if pins != [f"splink=={splink_internals.SPLINK_VERSION}"]:
        fail(f"pyproject.toml asks for {pins}, not exactly that version")
    if constraints != [splink_internals.SPLINK_VERSION]:
        fail(f"requirements/constraints.txt pins splink {constraints}")
    if installed != splink_internals.SPLINK_VERSION:
        fail(f"Splink {installed} is installed")


# module, name, the parameters it must take (in order)
FUNCTIONS = [
    (
        "expectation_maximisation",
        "populate_m_u_from_lookup",
        ["training_fixed_probabilities", "comparison_level", "output_column_name", None],
    ),
    (
        "blocking",
        "combine_unique_id_input_columns",
        ["source_dataset_input_column", "unique_id_input_column"],
    ),
    ("unique_id_concat", "_composite_unique_id_from_nodes_sql", ["unique_id_cols", "table_prefix"]),
    ("block_from_labels", "block_from_labels", ["linker", "labels_table_name"]),
    (
        "comparison_vector_values",
        "compute_comparison_vector_values_sql",
        ["columns_to_select_for_comparison_vector_values"],
    ),
    ("vertically_concatenate", "enqueue_df_concat_with_tf", ["linker", "pipeline"]),
]


@pytest.mark.parametrize(("module", "name", "parameters"), FUNCTIONS)
def test_internal_functions_keep_their_signatures(module, name, parameters):
    try:
        found = importlib.import_module(f"splink.internals.{module}")
    except ImportError:
        fail(f"splink.internals.{module} is gone")
    function = getattr(found, name, None)
    if function is None:
        fail(f"splink.internals.{module}.{name} is gone")
    function = getattr(function, "_civicshare_original", function)  # under the EM floor
    actual = list(inspect.signature(function).parameters)
    if len(actual) < len(parameters) or any(
        want is not None and want != got for want, got in zip(parameters, actual, strict=False)
    ):
        fail(f"splink.internals.{module}.{name} now takes {actual}, not {parameters}")
    required = [
        p.name
        for p in inspect.signature(function).parameters.values()
        if p.default is inspect.Parameter.empty
    ]
    if len(required) > len(parameters):
        fail(f"splink.internals.{module}.{name} now requires {required}")


def test_em_still_calls_the_function_the_floor_wraps():
    from splink.internals import constants, expectation_maximisation, pipeline

    source = inspect.getsource(expectation_maximisation)
    if "populate_m_u_from_lookup(" not in source:
        fail("EM no longer calls populate_m_u_from_lookup, so M_PROBABILITY_FLOOR does nothing")
    if not getattr(expectation_maximisation.populate_m_u_from_lookup, "_civicshare_floor", False):
        fail("the EM floor is not installed on import of civicshare.linkage.engine")
    if not hasattr(pipeline, "CTEPipeline"):
        fail("splink.internals.pipeline.CTEPipeline is gone")
    if not isinstance(getattr(constants, "LEVEL_NOT_OBSERVED_TEXT", None), str):
        fail("splink.internals.constants.LEVEL_NOT_OBSERVED_TEXT is gone")


def records() -> pd.DataFrame:
    people = [
        ("Ann", "Smith", "1980-01-02", "AB1 2CD"),
        ("Bob", "Jones", "1975-03-04", "EF3 4GH"),
        ("Cara", "Brown", "1990-05-06", "IJ5 6KL"),
    ]
    rows = [
        {
            "source": source,
            "record_id": f"{source}{i}",
            "given_name": given,
            "surname": surname,
            "date_of_birth": dob,
            "postcode": postcode,
        }
        for source in ("a", "b")
        for i, (given, surname, dob, postcode) in enumerate(people)
    ]
    return pd.DataFrame(rows)


def has(thing, attribute: str, where: str) -> None:
    if not hasattr(thing, attribute):
        fail(f"{where} has no {attribute}")


def test_the_private_attributes_the_module_reads_are_there():
    """On a linker built as the engine builds one (two sources, DuckDB)."""
    from splink import Linker

    backend = engine.DuckDBBackend()
    db_api, _, profile = backend.prepare(records())
    settings = engine.settings_for(profile["fields"], profile["distance"], profile["uk"])
    settings.link_type = "link_only"
    settings.source_dataset_column_name = "source"
    linker = Linker(backend.split_two_sources(db_api), settings, log_level=None)
    for name in ("_settings_obj", "_db_api", "_input_tables_dict"):
        has(linker, name, "Linker")
    has(linker.table_management, "register_blocked_pairs_for_predict", "linker.table_management")
    has(linker.table_management, "register_table", "linker.table_management")
    has(linker._db_api, "duckdb_con", "DuckDBAPI")
    has(linker._db_api, "sql_pipeline_to_splink_dataframe", "DuckDBAPI")
    settings_obj = linker._settings_obj
    for name in (
        "_probability_two_random_records_match",
        "_blocking_rules_to_generate_predictions",
        "_columns_to_select_for_comparison_vector_values",
        "column_info_settings",
        "comparisons",
    ):
        has(settings_obj, name, "Settings")
    info = settings_obj.column_info_settings
    for name in ("source_dataset_input_column", "unique_id_input_column"):
        has(info, name, "ColumnInfoSettings")
    has(info, "source_dataset_column_name", "ColumnInfoSettings")
    has(settings_obj._blocking_rules_to_generate_predictions[0], "blocking_rule_sql", "a rule")
    comparison = settings_obj.comparisons[0]
    for name in (
        "_comparison_levels_excluding_null",
        "_gamma_column_name",
        "comparison_levels",
        "output_column_name",
    ):
        has(comparison, name, "Comparison")
    level = comparison._comparison_levels_excluding_null[0]
    for name in ("_m_probability", "_fix_m_probability", "comparison_vector_value"):
        has(level, name, "ComparisonLevel")
    has(comparison.comparison_levels[0], "is_null_level", "ComparisonLevel")
    if not isinstance(type(level).__dict__.get("m_probability"), property):
        fail("ComparisonLevel.m_probability is no longer a settable property")
    # And the module's own functions work on it.
    splink_internals.clamp_prior(linker, 0.25, 0.5)
    assert settings_obj._probability_two_random_records_match == 0.25
    splink_internals.register_blocked_pairs(linker)
    backend.release(db_api)
