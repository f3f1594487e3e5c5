"""The linkage report: measured figures against truth, the bias check, the HTML page."""

from __future__ import annotations

import pandas as pd

from civicshare.linkage import report


def _case():
    # Three people: p1 in a and b, p2 in a and b, p3 in a, b and c. Women's records (p2, p3)
    # are the ones the run misses, so the bias check must flag them.
    records = pd.DataFrame(
        {
            "source": ["a", "b", "a", "b", "a", "b", "c"],
            "record_id": ["1", "1", "2", "2", "3", "3", "3"],
            "sex": ["M", "M", "F", "F", "F", "F", "F"],
        }
    )
    truth = records.assign(entity_id=["p1", "p1", "p2", "p2", "p3", "p3", "p3"])
    pairs = pd.DataFrame(
        {
            "source_l": ["a", "a", "a", "a"],
            "record_id_l": ["1", "2", "3", "1"],
            "source_r": ["b", "b", "b", "b"],
            "record_id_r": ["1", "2", "3", "2"],
            "match_weight": [20.0, -2.0, 15.0, 4.0],
            "match_probability": [0.99, 0.2, 0.95, 0.6],
        }
    )
    clusters = pd.DataFrame(
        {
            "source": records.source,
            "record_id": records.record_id,
            "cluster_id": ["a|1", "a|1", "a|2", "a|1", "a|3", "a|3", "c|3"],
        }
    )
    return records, truth, pairs, clusters


def test_measured_figures_count_true_pairs_across_sources():
    records, truth, pairs, clusters = _case()
    built = report.build_report(records, pairs, clusters, 0.5, truth=truth, link_only=True)
    measured = built["measured"]
    # True cross-source pairs: p1 1, p2 1, p3 3 (a-b, a-c, b-c).
    assert measured["true_pairs"] == 5
    assert (measured["true_positives"], measured["false_positives"]) == (2, 1)
    assert measured["false_negatives"] == 3
    assert measured["precision"] == 2 / 3 and measured["recall"] == 2 / 5
    assert built["counts"]["pairs_at_threshold"] == 3
    assert built["cluster_sizes"] == {"1": 2, "2": 1, "3": 1}


def test_bias_check_flags_the_group_with_lower_recall():
    records, truth, pairs, clusters = _case()
    built = report.build_report(records, pairs, clusters, 0.5, truth=truth, link_only=True)
    by_sex = {row["group"]: row for row in built["bias"]["sex"]}
    assert by_sex["M"]["measured_recall"] == 1.0 and not by_sex["M"]["flagged"]
    assert by_sex["F"]["measured_recall"] == 1 / 4 and by_sex["F"]["flagged"]


def test_html_is_self_contained_and_suppresses_small_counts():
    records, truth, pairs, clusters = _case()
    built = report.build_report(records, pairs, clusters, 0.5, truth=truth, link_only=True)
    page = report.render_report_html(built)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="en">' in page
    assert "<script" not in page and "http" not in page and "<link" not in page
    assert "<caption>By sex</caption>" in page and "recall more than 2 points below" in page
    # Seven records: a count of 1-7 is shown as *, never the number.
    assert '<th scope="row">records</th><td class="num">*</td>' in page
    assert report.suppress(0) == "0" and report.suppress(8) == "10" and report.suppress(12) == "10"


def test_file_mode_report_of_ones_own_files_shows_exact_counts():
    records, truth, pairs, clusters = _case()
    built = report.build_report(records, pairs, clusters, 0.5, truth=truth, link_only=True)
    page = report.render_report_html(built, suppressed=False)
    assert '<th scope="row">records</th><td class="num">7</td>' in page
    assert "Counts are exact" in page and "shown as *" not in page
