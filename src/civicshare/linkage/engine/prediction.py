"""Prediction: a trained model scores candidate pairs, incrementally when records are indexed."""

from __future__ import annotations

from typing import Any

import pandas as pd

from civicshare.linkage.engine.backends import backend_for
from civicshare.linkage.engine.blocking import blocking_rules, restrict
from civicshare.linkage.engine.model import LinkageModel


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
    engine = backend_for(backend, spark, memory_limit)
    db_api, table, _ = engine.prepare(records, existing if incremental else None)
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
    settings["blocking_rules_to_generate_predictions"] = restrict(
        blocking_rules(model.fields), condition
    )
    linker = Linker(table, settings, log_level=None)
    engine.before_predict(linker)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    pairs = engine.pairs_frame(db_api, predictions, detail)
    engine.release(db_api)
    return pairs
