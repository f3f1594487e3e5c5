"""Streaming a partner's file through validation, tokenisation and encryption into a staged
snapshot directory. Nothing here touches the governance store: `service.push` does that.

The staged directory lives in `data_dir/snapshots/.tmp/` (same file system as the snapshots,
so the final rename is atomic). It holds only pseudonymised, encrypted or non-identifying
values; a crash leaves it behind for `sweep_staging` to remove.

`layout` (where things live, sweeping, fsync), `spool` (encrypted upload spool), `readers`
(CSV, Parquet and XLSX as text batches, limits first), `storage` (how each column is stored),
`staging` (staging a snapshot). Everything public is re-exported here.
"""

from __future__ import annotations

from civicshare.dataplane.ingest.layout import (
    fsync_dir,
    fsync_tree,
    new_staging_dir,
    snapshots_root,
    staging_root,
    sweep_staging,
)
from civicshare.dataplane.ingest.readers import (
    BOMS,
    CSV_BLOCK_BYTES,
    HEADER_PROBE_BYTES,
    NOT_UTF8_HINT,
    PARQUET_DAMAGED,
    ROWS_PER_BATCH,
    TEXT_CHUNK_BYTES,
    FileProblem,
    Source,
    guess_format,
    open_source,
    sniff_encoding,
)
from civicshare.dataplane.ingest.spool import (
    EncryptedSpool,
)
from civicshare.dataplane.ingest.staging import (
    MAX_PROBLEMS_KEPT,
    PAUSE_ENV,
    QUARANTINE_STREAM,
    Progress,
    Staged,
    encrypt_rows,
    problem_lines,
    stage,
)
from civicshare.dataplane.ingest.storage import (
    ARROW_TYPES,
    GENERALISED,
    data_schema,
    generalise,
    quarantine_schema,
    sealed_path,
    storage_plan,
)

__all__ = [
    "ARROW_TYPES",
    "BOMS",
    "CSV_BLOCK_BYTES",
    "EncryptedSpool",
    "FileProblem",
    "GENERALISED",
    "HEADER_PROBE_BYTES",
    "MAX_PROBLEMS_KEPT",
    "NOT_UTF8_HINT",
    "PARQUET_DAMAGED",
    "PAUSE_ENV",
    "Progress",
    "QUARANTINE_STREAM",
    "ROWS_PER_BATCH",
    "Source",
    "Staged",
    "TEXT_CHUNK_BYTES",
    "data_schema",
    "encrypt_rows",
    "fsync_dir",
    "fsync_tree",
    "generalise",
    "guess_format",
    "new_staging_dir",
    "open_source",
    "problem_lines",
    "quarantine_schema",
    "sealed_path",
    "snapshots_root",
    "sniff_encoding",
    "stage",
    "staging_root",
    "storage_plan",
    "sweep_staging",
]
