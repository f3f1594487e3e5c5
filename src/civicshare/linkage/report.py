"""The linkage report of a run: what was linked, how sure the model is, and for whom.

``build_report(records, pairs, clusters, threshold, truth=None, link_only=False) -> dict``
    ``records``: canonical or standardised records (``source``, ``record_id``, and when present
    ``date_of_birth``/``dob``, ``sex``, ``age_band``, ``ethnic_group``). ``pairs``: scored
    candidate pairs from ``engine.predict`` (all of them, not only those at the threshold, so
    recall can be estimated). ``clusters``: from ``engine.cluster``. ``truth``: optional frame
    ``source, record_id, entity_id``. ``link_only``: true pairs are then only those across
    sources. Returns plain data (JSON-serialisable):

    - ``counts``: records, sources, candidate pairs, pairs at the threshold, clusters, records
      in clusters of two or more;
    - ``match_weight_histogram``: candidate pairs per whole match weight;
    - ``cluster_sizes``: clusters per size;
    - ``estimated``: precision (mean match probability of the accepted pairs) and recall
      (their summed probability over that of every candidate pair): the model's own view;
    - ``measured`` (with truth): true pairs, true positives, false positives, false
      negatives, precision, recall, F1;
    - ``bias``: for each of age band, sex and ethnic group present, per group: records, share
      linked, estimated recall and, with truth, measured precision and recall; ``flagged``
      when a group's recall is more than 2 percentage points below the overall.

``render_report_html(report) -> str``
    One self-contained page (inline CSS, no scripts, no external assets) with a table for every
    chart, so it reads the same with a screen reader. Counts of 1-7 are shown as ``*`` and
    others rounded to the nearest 5, the partnership's small-number rule; rates are shown as
    they are.
"""

from __future__ import annotations

import html
import math
from datetime import date

import numpy as np
import pandas as pd

BIAS_TOLERANCE = 0.02
AGE_BANDS = ((0, 17, "0-17"), (18, 39, "18-39"), (40, 64, "40-64"), (65, 79, "65-79"))


def _key(source: pd.Series, record_id: pd.Series) -> pd.Series:
    return source.astype(str) + "\x1f" + record_id.astype(str)


def _age_band(dob: pd.Series, today: date) -> pd.Series:
    born = pd.to_datetime(dob, errors="coerce")
    age = (
        today.year
        - born.dt.year
        - (
            (born.dt.month > today.month)
            | ((born.dt.month == today.month) & (born.dt.day > today.day))
        ).astype(int)
    )
    bands = pd.Series(None, index=dob.index, dtype=object)
    for low, high, label in AGE_BANDS:
        bands[(age >= low) & (age <= high)] = label
    bands[age >= 80] = "80+"
    return bands


def _groupings(records: pd.DataFrame, today: date) -> dict[str, pd.Series]:
    groups: dict[str, pd.Series] = {}
    if "age_band" in records and records["age_band"].notna().any():
        groups["age band"] = records["age_band"].astype(object)
    else:
        dob = records["dob"] if "dob" in records else records.get("date_of_birth")
        if dob is not None and dob.notna().any():
            groups["age band"] = _age_band(dob, today)
    if "sex" in records and records["sex"].notna().any():
        groups["sex"] = records["sex"].astype(object)
    for column in ("ethnic_group", "ethnicity_group", "ethnicity"):
        if column in records and records[column].notna().any():
            groups["ethnic group"] = records[column].astype(object)
            break
    return {name: series.fillna("not recorded") for name, series in groups.items()}


def _true_pairs(truth_keys: pd.DataFrame, link_only: bool) -> int:
    """Pairs of records sharing an entity (across sources only, when linking)."""
    per_entity = truth_keys.groupby("entity_id").size()
    total = int((per_entity * (per_entity - 1) // 2).sum())
    if link_only:
        per_source = truth_keys.groupby(["entity_id", "source"]).size()
        total -= int((per_source * (per_source - 1) // 2).sum())
    return total


def build_report(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    clusters: pd.DataFrame,
    threshold: float,
    truth: pd.DataFrame | None = None,
    *,
    link_only: bool = False,
    today: date | None = None,
) -> dict:
    today = today or date.today()
    probability = pairs["match_probability"].to_numpy(dtype=float)
    accepted_mask = probability >= threshold
    sizes = clusters.groupby("cluster_id").size()
    linked_keys = set(
        _key(clusters["source"], clusters["record_id"])[
            clusters["cluster_id"].map(sizes).to_numpy() > 1
        ]
    )
    total_mass = float(probability.sum())
    accepted_mass = float(probability[accepted_mask].sum())
    report: dict = {
        "threshold": float(threshold),
        "link_only": bool(link_only),
        "counts": {
            "records": int(len(records)),
            "sources": int(records["source"].nunique()),
            "candidate_pairs": int(len(pairs)),
            "pairs_at_threshold": int(accepted_mask.sum()),
            "clusters": int(len(sizes)),
            "records_linked": len(linked_keys),
        },
        "match_weight_histogram": {
            str(int(k)): int(v)
            for k, v in np.floor(pairs["match_weight"].clip(-30, 40))
            .value_counts()
            .sort_index()
            .items()
        },
        "cluster_sizes": {
            str(int(k)): int(v) for k, v in sizes.value_counts().sort_index().items()
        },
        "estimated": {
            "precision": float(probability[accepted_mask].mean()) if accepted_mask.any() else None,
            "recall": accepted_mass / total_mass if total_mass else None,
        },
    }

    key_l = _key(pairs["source_l"], pairs["record_id_l"])
    key_r = _key(pairs["source_r"], pairs["record_id_r"])
    entity = None
    if truth is not None:
        truth_keys = truth.assign(key=_key(truth["source"], truth["record_id"]))
        truth_keys = truth_keys[
            truth_keys["key"].isin(set(_key(records["source"], records["record_id"])))
        ]
        entity = pd.Series(truth_keys["entity_id"].to_numpy(), index=truth_keys["key"])
        same = (key_l.map(entity) == key_r.map(entity)).to_numpy() & key_l.map(
            entity
        ).notna().to_numpy()
        true_pairs = _true_pairs(truth_keys, link_only)
        tp = int((same & accepted_mask).sum())
        fp = int(accepted_mask.sum()) - tp
        fn = true_pairs - tp
        report["measured"] = {
            "true_pairs": true_pairs,
            "true_positives": tp,
            "false_positives": fp,
            "false_negatives": fn,
            "precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / true_pairs if true_pairs else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        }
        report["_same"] = same  # used below, removed before returning

    record_keys = _key(records["source"], records["record_id"]).reset_index(drop=True)
    bias: dict = {}
    for name, series in _groupings(records.reset_index(drop=True), today).items():
        group_of = pd.Series(series.to_numpy(), index=record_keys.to_numpy())
        group_l = key_l.map(group_of).to_numpy()
        group_r = key_r.map(group_of).to_numpy()
        rows = []
        for value in sorted(series.unique(), key=str):
            in_group = (group_l == value) | (group_r == value)
            mass = probability[in_group].sum()
            row = {
                "group": str(value),
                "records": int((series == value).sum()),
                "linked_share": float(
                    np.mean([k in linked_keys for k in record_keys[(series == value).to_numpy()]])
                )
                if (series == value).any()
                else None,
                "estimated_recall": float(probability[in_group & accepted_mask].sum() / mass)
                if mass
                else None,
            }
            if entity is not None:
                same = report["_same"]
                members = group_of[group_of == value].index
                group_truth = truth_keys[truth_keys["key"].isin(members)]
                # True pairs touching the group: every pair with at least one member in it.
                true_in_group = _pairs_touching(truth_keys, set(members), link_only)
                tp = int((same & accepted_mask & in_group).sum())
                predicted = int((accepted_mask & in_group).sum())
                row["measured_precision"] = tp / predicted if predicted else None
                row["measured_recall"] = tp / true_in_group if true_in_group else None
                row["records_with_truth"] = int(len(group_truth))
            rows.append(row)
        _flag_groups(rows, report, measured=entity is not None)
        bias[name] = rows
    report["bias"] = bias
    report.pop("_same", None)
    return report


def _flag_groups(rows: list[dict], report: dict, measured: bool) -> None:
    """Flag the groups whose recall falls more than ``BIAS_TOLERANCE`` below the overall."""
    overall_key = "measured_recall" if measured else "estimated_recall"
    overall = (
        report.get("measured", {}).get("recall") if measured else report["estimated"]["recall"]
    )
    for row in rows:
        value = row.get(overall_key)
        row["flagged"] = bool(
            overall is not None and value is not None and value < overall - BIAS_TOLERANCE
        )


def _pairs_touching(truth_keys: pd.DataFrame, members: set, link_only: bool) -> int:
    """True pairs with at least one record in ``members``: all pairs less those of outsiders."""

    def pairs_touching(by: list[str]) -> int:
        grouped = frame.groupby(by)["member"].agg(["size", "sum"])
        n, m = grouped["size"], grouped["sum"]
        return int((n * (n - 1) // 2 - (n - m) * (n - m - 1) // 2).sum())

    frame = truth_keys.assign(member=truth_keys["key"].isin(members).astype(int))
    total = pairs_touching(["entity_id"])
    if link_only:
        total -= pairs_touching(["entity_id", "source"])
    return total


# ---------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------


def suppress(count: int) -> str:
    """The partnership's small-number rule: 1-7 as '*', others to the nearest 5."""
    if count == 0:
        return "0"
    if count <= 7:
        return "*"
    return f"{int(5 * math.floor(count / 5 + 0.5)):,}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "not available" if value is None else f"{100 * value:.{digits}f}%"


def _exact(count: int) -> str:
    return str(count)


def _bar_table(caption: str, label: str, counts: dict[str, int], shown=suppress) -> str:
    top = max(counts.values(), default=0) or 1
    rows = "".join(
        f'<tr><th scope="row">{html.escape(k)}</th><td>{shown(v)}</td>'
        f'<td aria-hidden="true"><span class="bar" style="width:{100 * v / top:.1f}%"></span>'
        "</td></tr>"
        for k, v in counts.items()
    )
    return (
        f"<table><caption>{html.escape(caption)}</caption><thead><tr>"
        f'<th scope="col">{html.escape(label)}</th><th scope="col">Count</th>'
        f'<th scope="col"><span class="visually-hidden">Bar</span></th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


_CSS = """
body{font-family:Arial,Helvetica,sans-serif;margin:2rem auto;max-width:60rem;color:#0b0c0c;
line-height:1.5;padding:0 1rem}
h1,h2{line-height:1.2}table{border-collapse:collapse;margin:1rem 0 2rem;width:100%}
caption{text-align:left;font-weight:bold;margin-bottom:.5rem}
th,td{border-bottom:1px solid #b1b4b6;padding:.4rem .6rem;text-align:left;vertical-align:top}
td.num,th.num{text-align:right}
.bar{display:inline-block;height:.9rem;background:#1d70b8;min-width:1px}
.flag{font-weight:bold;color:#942514}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.note{color:#505a5f}
"""


# -- examples: the analyst's own records, side by side (file mode only) ------------------------

EXAMPLE_FIELDS = ("given_name", "surname", "date_of_birth", "sex", "nhs_number", "address",
                  "postcode")  # fmt: skip


def examples(
    records: pd.DataFrame,
    pairs: pd.DataFrame,
    clusters: pd.DataFrame,
    threshold: float,
    *,
    nearest: int = 10,
    largest: int = 5,
) -> dict:
    """The pairs nearest the threshold (either side) and the largest clusters, each with its
    records' fields, for the analyst to look at: only for a report of one's own files (file
    mode), never one others see. ``records``: canonical, as read."""
    fields = [f for f in EXAMPLE_FIELDS if f in records.columns]
    rows = {
        (str(r.source), str(r.record_id)): r
        for r in records[["source", "record_id", *fields]].itertuples(index=False)
    }

    def record(source, record_id) -> dict:
        row = rows.get((str(source), str(record_id)))
        values = {f: _text(getattr(row, f)) if row is not None else None for f in fields}
        return {"source": str(source), "record_id": str(record_id), **values}

    bar = math.log2(threshold / (1 - threshold)) if 0 < threshold < 1 else 0.0
    distance = (pairs["match_weight"].astype(float) - bar).abs()
    near = pairs.assign(_distance=distance).sort_values(
        ["_distance", "source_l", "record_id_l", "source_r", "record_id_r"]
    ).head(nearest)  # fmt: skip
    sizes = clusters.groupby("cluster_id").size()
    biggest = sizes[sizes > 1].sort_values(ascending=False, kind="stable").head(largest)
    return {
        "fields": fields,
        "near_threshold": [
            {
                "match_probability": float(p.match_probability),
                "match_weight": float(p.match_weight),
                "linked": bool(p.match_probability >= threshold),
                "left": record(p.source_l, p.record_id_l),
                "right": record(p.source_r, p.record_id_r),
            }
            for p in near.itertuples(index=False)
        ],
        "largest_clusters": [
            {
                "cluster_id": str(cluster_id),
                "size": int(size),
                "records": [
                    record(m.source, m.record_id)
                    for m in clusters[clusters["cluster_id"] == cluster_id].itertuples(index=False)
                ],
            }
            for cluster_id, size in biggest.items()
        ],
    }


def _text(value) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _examples_html(found: dict) -> list[str]:
    fields = found["fields"]
    parts = [
        "<h2>Pairs nearest the threshold</h2>",
        "<p>The pairs the model was least sure of, either side of the threshold, with their "
        "records side by side: where a wrong link or a missed one would be.</p>",
    ]
    for number, pair in enumerate(found["near_threshold"], start=1):
        left, right = pair["left"], pair["right"]
        verdict = "linked" if pair["linked"] else "not linked"
        parts.append(
            f"<table><caption>Pair {number}: match probability {pair['match_probability']:.4f}"
            f" (weight {pair['match_weight']:+.2f}), {verdict}</caption><thead><tr>"
            '<th scope="col">Field</th>'
            f'<th scope="col">{html.escape(left["source"])} {html.escape(left["record_id"])}</th>'
            f'<th scope="col">{html.escape(right["source"])} {html.escape(right["record_id"])}'
            "</th></tr></thead><tbody>"
            + "".join(
                f'<tr><th scope="row">{html.escape(f.replace("_", " "))}</th>'
                f"<td>{html.escape(left[f] or '')}</td><td>{html.escape(right[f] or '')}</td></tr>"
                for f in fields
            )
            + "</tbody></table>"
        )
    parts.append("<h2>Largest clusters</h2>")
    for cluster in found["largest_clusters"]:
        parts.append(
            f"<table><caption>Cluster {html.escape(cluster['cluster_id'])}: "
            f"{cluster['size']} records</caption><thead><tr>"
            '<th scope="col">Source</th><th scope="col">Record</th>'
            + "".join(f'<th scope="col">{html.escape(f.replace("_", " "))}</th>' for f in fields)
            + "</tr></thead><tbody>"
            + "".join(
                f"<tr><td>{html.escape(r['source'])}</td><td>{html.escape(r['record_id'])}</td>"
                + "".join(f"<td>{html.escape(r[f] or '')}</td>" for f in fields)
                + "</tr>"
                for r in cluster["records"]
            )
            + "</tbody></table>"
        )
    return parts


def render_report_html(report: dict, suppressed: bool = True) -> str:
    """The report as one HTML page. ``suppressed``: counts by the partnership's small-number
    rule, for a report others see (the person index's); file mode links the analyst's own
    files, so its report shows exact counts, the same as the command's summary."""
    show = suppress if suppressed else _exact
    counts = report["counts"]
    estimated = report["estimated"]
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Linkage report</title><style>{_CSS}</style></head><body><main>",
        "<h1>Linkage report</h1>",
        f"<p>Threshold: match probability {report['threshold']:.4f}"
        + (
            f" (the model recommends {report['recommended_threshold']:.4f})"
            if "recommended_threshold" in report
            else ""
        )
        + ". "
        + ("Pairs across sources only." if report.get("link_only") else "All pairs.")
        + "</p>",
    ]
    if report.get("inputs"):
        parts.append("<p>Inputs: " + ", ".join(html.escape(n) for n in report["inputs"]) + ".</p>")
    if report.get("warnings"):
        parts.append("<h2>Warnings</h2><ul>")
        parts.extend(f"<li>{html.escape(w)}</li>" for w in report["warnings"])
        parts.append("</ul>")
    parts.append(
        "<h2>Summary</h2><table><caption>Counts</caption><tbody>"
        + "".join(
            f'<tr><th scope="row">{html.escape(k.replace("_", " "))}</th>'
            f'<td class="num">{show(v)}</td></tr>'
            for k, v in counts.items()
        )
        + "</tbody></table>"
    )
    parts.append(
        "<h2>Quality</h2><table><caption>Precision and recall</caption><thead><tr>"
        '<th scope="col">Measure</th><th scope="col">Estimated by the model</th>'
        '<th scope="col">Measured against ground truth</th></tr></thead><tbody>'
    )
    measured = report.get("measured", {})
    for name in ("precision", "recall", "f1"):
        parts.append(
            f'<tr><th scope="row">{name.upper() if name == "f1" else name.capitalize()}</th>'
            f"<td>{_pct(estimated.get(name)) if name in estimated else 'not estimated'}</td>"
            f"<td>{_pct(measured.get(name)) if measured else 'no ground truth given'}</td></tr>"
        )
    parts.append("</tbody></table>")
    parts.append(
        '<p class="note">Estimated precision is the mean match probability of the accepted '
        "pairs; estimated recall is their share of the probability of every candidate pair. "
        "Both trust the model; measured figures need ground truth.</p>"
    )
    parts.append("<h2>Distributions</h2>")
    parts.append(
        _bar_table(
            "Candidate pairs by match weight",
            "Match weight",
            report["match_weight_histogram"],
            show,
        )
    )
    parts.append(
        _bar_table("Clusters by size", "Records in cluster", report["cluster_sizes"], show)
    )
    parts.append("<h2>Bias check</h2>")
    if not report["bias"]:
        parts.append("<p>No age, sex or ethnic group columns: no bias check.</p>")
    for name, rows in report["bias"].items():
        with_truth = any("measured_recall" in r for r in rows)
        head = (
            '<th scope="col">Group</th><th scope="col">Records</th>'
            '<th scope="col">Linked share</th><th scope="col">Estimated recall</th>'
        )
        if with_truth:
            head += '<th scope="col">Measured precision</th><th scope="col">Measured recall</th>'
        head += '<th scope="col">Flag</th>'
        body = ""
        for r in rows:
            body += (
                f'<tr><th scope="row">{html.escape(r["group"])}</th>'
                f'<td class="num">{show(r["records"])}</td>'
                f"<td>{_pct(r['linked_share'], 1)}</td><td>{_pct(r['estimated_recall'])}</td>"
            )
            if with_truth:
                body += (
                    f"<td>{_pct(r.get('measured_precision'))}</td>"
                    f"<td>{_pct(r.get('measured_recall'))}</td>"
                )
            body += (
                '<td class="flag">recall more than 2 points below overall</td>'
                if r["flagged"]
                else "<td>none</td>"
            )
            body += "</tr>"
        parts.append(
            f"<table><caption>By {html.escape(name)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
    if suppressed:
        parts.append(
            '<p class="note">Counts of 1 to 7 are shown as *, others rounded to the nearest 5.</p>'
        )
    else:
        parts.append('<p class="note">Counts are exact: this report is of your own files.</p>')
    if report.get("examples"):
        parts.extend(_examples_html(report["examples"]))
    parts.append("</main></body></html>")
    return "\n".join(parts)
