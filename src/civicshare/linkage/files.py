"""File mode: link (or deduplicate) CSV, Parquet or XLSX files an analyst holds.

``link_files(paths, out_dir, column_map=None, threshold=None)`` reads each file through its
column map into canonical records, trains the engine on them, and writes

* ``pairs.csv``: ``source_l, record_id_l, source_r, record_id_r, match_weight,
  match_probability`` for every pair judged the same person at the threshold;
* ``clusters.csv``: ``source, record_id, cluster_id`` for every record;
* ``report.html``: the linkage report (``civicshare.linkage.report``);
* ``model.json``: the trained model, to reuse or to audit.

One file is deduplicated; several are linked to each other (pairs across files only, unless
``within_files=True``, which also finds duplicates inside each file).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from civicshare import csvsafe
from civicshare.linkage import engine, report
from civicshare.linkage.columns import (
    ColumnMap,
    ColumnMapError,
    FileColumns,
    guess_column_map,
)

READERS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "xlsx"}


@dataclass
class LinkFilesResult:
    records: int
    pairs: int
    clusters: int
    threshold: float
    recommended_threshold: float
    out_dir: Path
    warnings: list[str]
    report: dict


def read_table(path: Path) -> pd.DataFrame:
    """Every value as text (None when empty), so ids keep their leading zeros."""
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise ColumnMapError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; use .csv, "
            ".parquet or .xlsx"
        )
    if not path.is_file():
        raise ColumnMapError(f"{path}: no such file")
    try:
        if kind == "csv":
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        elif kind == "parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_excel(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError as exc:
        raise ColumnMapError(f"{path.name}: not UTF-8 text ({exc.reason})") from exc
    except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
        raise ColumnMapError(f"{path.name}: cannot be read as {kind} ({exc})") from exc
    return frame


def _as_text(series: pd.Series) -> pd.Series:
    def convert(value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return None
        if value is pd.NaT:
            return None
        text = str(value).strip()
        return text or None

    # A list, not Series.map: pandas 3 would turn the Nones back into NaN in a str column.
    return pd.Series([convert(v) for v in series.tolist()], index=series.index, dtype=object)


TITLES = {"MR", "MRS", "MISS", "MS", "MX", "DR", "PROF", "REV", "SIR", "DAME", "LADY", "LORD"}


def _split_name(value: str | None) -> tuple[str | None, str | None]:
    """'SMITH, Jane Ann' or 'Mrs Jane Smith' -> (given names, surname); titles dropped."""
    if not value:
        return None, None
    if "," in value:
        family, _, given = value.partition(",")
        return given.strip() or None, family.strip() or None
    words = [w for w in value.split() if w.strip(".").upper() not in TITLES]
    if not words:
        return None, None
    return " ".join(words[:-1]) or None, words[-1]


def _row_label(path: Path, index: int) -> str:
    """Rows are counted from 1 after the header; for CSV and XLSX also the line/sheet row."""
    if path.suffix.lower() in (".csv", ".xlsx"):
        return f"row {index + 1} (line {index + 2})"
    return f"row {index + 1}"


def _dates(path: Path, series: pd.Series, date_format: str, warnings: list[str]) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series):
        parsed = series
    else:
        text = _as_text(series)
        if series.map(lambda v: hasattr(v, "isoformat")).any():
            # Dates already (a Parquet date column): the format does not apply.
            parsed = pd.to_datetime(series, errors="coerce")
        else:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        bad = text.notna() & parsed.isna()
        if bad.any():
            first = int(bad.to_numpy().nonzero()[0][0])
            kept = _impossible_dates(text[bad], date_format)
            warnings.append(
                f"{path.name}: {int(bad.sum())} row(s) with a date_of_birth that is not a date "
                f"in {date_format} (first: {_row_label(path, first)}, {text.iloc[first]!r}); "
                f"{int(kept.notna().sum())} kept digit by digit (a day or month out of range), "
                "the rest treated as missing"
            )
            iso = parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)
            iso[bad] = kept
            return iso
    return parsed.dt.strftime("%Y-%m-%d").astype(object).where(parsed.notna(), None)


def _impossible_dates(text: pd.Series, date_format: str) -> pd.Series:
    """Dates in the right layout whose day or month is out of range, as yyyy-mm-dd text.

    '19450493' in %Y%m%d becomes '1945-04-93': no such day, but a keying error in it still
    compares as one digit from the true date. Anything else becomes None.
    """
    pieces = {"%Y": r"(?P<y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})"}
    pattern, i = "", 0
    while i < len(date_format):
        token = date_format[i : i + 2]
        if token in pieces:
            pattern += pieces[token]
            i += 2
        elif token.startswith("%"):
            return pd.Series(None, index=text.index, dtype=object)  # names, %y ...: no layout
        else:
            pattern += re.escape(date_format[i])
            i += 1
    found = text.str.extract(f"^{pattern}$")
    if not {"y", "m", "d"} <= set(found.columns):
        return pd.Series(None, index=text.index, dtype=object)
    iso = found["y"] + "-" + found["m"] + "-" + found["d"]
    return iso.astype(object).where(iso.notna(), None)


def canonical_records(
    path: Path, frame: pd.DataFrame, spec: FileColumns, warnings: list[str]
) -> pd.DataFrame:
    """One file's rows as canonical records; a clear error names the file, row and field."""
    missing = [c for c in spec.required_columns() if c not in frame.columns]
    if missing:
        fields = {c: f for f, cols in spec.columns.items() for c in cols}
        described = ", ".join(f"{c!r} (for {fields[c]})" for c in missing)
        shown = ", ".join(map(repr, list(frame.columns)[:30]))
        raise ColumnMapError(
            f"{path.name}: column(s) {described} not in the file; its columns are {shown}"
        )
    source = spec.source or path.stem
    out = pd.DataFrame({"source": [source] * len(frame)}, index=frame.index)
    for name, cols in spec.columns.items():
        if name == "date_of_birth":
            out[name] = _dates(path, frame[cols[0]], spec.date_format, warnings).to_numpy()
        elif name in ("address", "given_name"):
            parts = [_as_text(frame[c]).tolist() for c in cols]
            joiner = ", " if name == "address" else " "
            out[name] = [
                joiner.join(v for v in row if v) or None for row in zip(*parts, strict=True)
            ]
        elif name == "full_name":
            given, family = zip(*(_split_name(v) for v in _as_text(frame[cols[0]])), strict=True)
            out["given_name"] = list(given) if len(frame) else []
            out["surname"] = list(family) if len(frame) else []
        else:
            out[name] = _as_text(frame[cols[0]]).to_numpy()
    out = out.reset_index(drop=True)
    ids = out["record_id"]
    if ids.isna().any():
        row = int(ids.isna().to_numpy().nonzero()[0][0])
        raise ColumnMapError(
            f"{path.name}, {_row_label(path, row)}, record_id "
            f"(column {spec.columns['record_id'][0]!r}): empty; every row needs an id"
        )
    repeated = ids.duplicated(keep=False)
    if repeated.any():
        first_id = ids[repeated].iloc[0]
        rows = (ids == first_id).to_numpy().nonzero()[0][:2]
        raise ColumnMapError(
            f"{path.name}, {_row_label(path, rows[0])} and {_row_label(path, rows[1])}, "
            f"record_id (column {spec.columns['record_id'][0]!r}): {first_id!r} repeated; "
            "ids must be unique within a file"
        )
    return out


def load_records(
    paths: list[Path], column_map: ColumnMap | None, warnings: list[str]
) -> pd.DataFrame:
    frames = []
    sources: dict[str, Path] = {}
    for path in paths:
        frame = read_table(path)
        spec = column_map.for_file(path) if column_map else guess_column_map(list(frame.columns))
        records = canonical_records(path, frame, spec, warnings)
        source = records["source"].iloc[0] if len(records) else (spec.source or path.stem)
        if source in sources:
            raise ColumnMapError(
                f"{path.name}: source name {source!r} is already used by "
                f"{sources[source].name}; give one a 'source:' in the column map"
            )
        sources[source] = path
        if len(records) == 0:
            warnings.append(f"{path.name}: no rows")
        frames.append(records)
    return pd.concat(frames, ignore_index=True)


def read_truth(path: Path) -> pd.DataFrame:
    """Ground truth: columns source, record_id, entity_id (for evaluations only)."""
    frame = read_table(path)
    needed = {"source", "record_id", "entity_id"}
    if not needed <= set(frame.columns):
        raise ColumnMapError(
            f"{path.name}: a truth file needs columns source, record_id, entity_id; it has "
            + ", ".join(map(repr, frame.columns))
        )
    return frame[["source", "record_id", "entity_id"]].astype(str)


MEMORY = re.compile(r"[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def link_files(
    paths: list[Path],
    out_dir: Path,
    *,
    column_map: ColumnMap | None = None,
    threshold: float | None = None,
    within_files: bool = False,
    truth: pd.DataFrame | None = None,
    seed: int = 1,
    memory_limit: str | None = None,
    allow_duplicates: bool = False,
) -> LinkFilesResult:
    """Link (or deduplicate) ``paths``. Linking files (not ``within_files``), each file is
    taken to hold one record per person unless ``allow_duplicates``: each record then links to
    at most one of each other file (``engine.one_to_one``) and a cluster that still holds two
    records of one file is split at its weakest link (``engine.split_clusters``)."""
    if not paths:
        raise ColumnMapError("name at least one file to link")
    if memory_limit is not None and not MEMORY.fullmatch(memory_limit.strip()):
        raise ColumnMapError(
            f"--memory-limit must be an amount such as 1536MB or 4GB, got {memory_limit!r}"
        )
    if threshold is not None and not 0 < threshold < 1:
        raise ColumnMapError(f"--threshold must be a probability between 0 and 1, got {threshold}")
    warnings: list[str] = []
    records = load_records([Path(p) for p in paths], column_map, warnings)
    link_only = len(paths) > 1 and not within_files
    standardised = engine.standardise(records)
    try:
        model, scored = engine.train_and_predict(
            standardised,
            seed=seed,
            link_only=link_only,
            score_floor=0.001,
            detail=False,
            memory_limit=memory_limit,
        )
    except ValueError as exc:
        names = ", ".join(Path(p).name for p in paths)
        raise ColumnMapError(f"cannot link {names}: {exc}") from exc
    chosen = model.recommended_threshold if threshold is None else threshold
    duplicate_free = set() if allow_duplicates or not link_only else set(records["source"])
    if column_map is not None:
        for path in paths:
            spec = column_map.for_file(Path(path))
            if spec.duplicates:
                duplicate_free.discard(spec.source or Path(path).stem)
    if duplicate_free:
        assigned = engine.one_to_one(scored, chosen, duplicate_free)
        # Pairs the assignment dropped (a twin's record that scored above the threshold against
        # both twins) are no longer links: out of the pairs, the clusters and the report.
        scored = scored.drop(index=assigned.index[~assigned["one_to_one"]])
    accepted = scored[scored["match_probability"] >= chosen]
    clusters, splits = engine.split_clusters(records, scored, chosen, duplicate_free)
    built = report.build_report(
        standardised, scored, clusters, chosen, truth=truth, link_only=link_only
    )
    # The analyst's own files: their records may be shown side by side in their own report.
    built["examples"] = report.examples(records, scored, clusters, chosen)
    built["one_to_one"] = bool(duplicate_free)
    built["split_clusters"] = splits
    if splits:
        warnings.append(
            f"{len(splits)} cluster(s) held two records of one file and were split at their "
            "weakest link (see report.json, split_clusters)"
        )
    built["recommended_threshold"] = model.recommended_threshold
    built["inputs"] = [Path(p).name for p in paths]
    built["warnings"] = list(warnings)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    columns = ["source_l", "record_id_l", "source_r", "record_id_r"]
    # Record ids come from the analyst's files: csvsafe prefixes any that start = + - @ with '.
    pairs = accepted[[*columns, "match_weight", "match_probability"]]
    csvsafe.write_table(pa.Table.from_pandas(pairs, preserve_index=False), out_dir / "pairs.csv")
    csvsafe.write_table(
        pa.Table.from_pandas(clusters, preserve_index=False), out_dir / "clusters.csv"
    )
    (out_dir / "report.html").write_text(
        report.render_report_html(built, suppressed=False), encoding="utf-8"
    )
    (out_dir / "model.json").write_text(model.to_json(), encoding="utf-8")
    (out_dir / "report.json").write_text(json.dumps(built, indent=1, default=str))
    return LinkFilesResult(
        records=len(records),
        pairs=len(accepted),
        clusters=int(clusters["cluster_id"].nunique()),
        threshold=chosen,
        recommended_threshold=model.recommended_threshold,
        out_dir=out_dir,
        warnings=warnings,
        report=built,
    )
