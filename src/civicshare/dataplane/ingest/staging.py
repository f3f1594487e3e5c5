"""Staging a snapshot: validate, tokenise and encrypt a file into a staging directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from civicshare.config import Settings
from civicshare.dataplane.ingest.layout import (
    DATA_FILE,
    MANIFEST_FILE,
    QUARANTINE_FILE,
    fsync_tree,
    new_staging_dir,
)
from civicshare.dataplane.ingest.readers import FileProblem, open_source
from civicshare.dataplane.ingest.storage import (
    ARROW_TYPES,
    GENERALISED,
    data_schema,
    generalise,
    parquet_options,
    quarantine_schema,
    quarantine_sealed_path,
    sealed_path,
    storage_plan,
)
from civicshare.datasets.contracts import Contract, FileFormat
from civicshare.datasets.validation import duplicate_records, validate_batch
from civicshare.identity import service as identity
from civicshare.private import tighten_tree

MAX_PROBLEMS_KEPT = 1000
PAUSE_ENV = "CIVICSHARE_TEST_INGEST_PAUSE"  # seconds to sleep after each batch (crash tests)
QUARANTINE_STREAM = 1 << 16

Progress = Callable[[int, int, int], None]  # rows done, units done, units total


# -- staging a snapshot --------------------------------------------------------------------


@dataclass
class Staged:
    directory: Path
    outcome: str  # accepted | rejected
    report: dict[str, Any]
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    sha256: str
    storage: dict[str, dict[str, Any]]
    wrapped_data_key: str = ""
    key_version: int = 0


class _Known:
    """The tokens of one column's values hashed in earlier batches, so that only values not
    seen before are hashed: names, dates of birth and postcodes repeat from batch to batch.
    A column whose values mostly do not repeat (NHS numbers, UPRNs) stops being kept after
    its first batch that finds under a quarter of its values known."""

    LIMIT = 100_000  # values kept per column at most (a few MB each)
    USEFUL = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values = pa.array([], pa.string())
        self._tokens = pa.array([], pa.string())
        self.useful = True

    def look_up(self, distinct: pa.Array) -> tuple[pa.Array, np.ndarray, bool]:
        """(tokens of the known values, null for the others; mask of the unknown; whether
        anything was known to look in)."""
        with self._lock:
            values, tokens = self._values, self._tokens
        if not self.useful or len(values) == 0:
            return pa.nulls(len(distinct), pa.string()), np.ones(len(distinct), bool), False
        where = pc.index_in(distinct, value_set=values)
        return tokens.take(where), where.is_null().to_numpy(zero_copy_only=False), True

    def learn(self, values: pa.Array, tokens: pa.Array, known_share: float | None) -> None:
        with self._lock:
            if known_share is not None and known_share < self.USEFUL:
                self.useful = False
                self._values = self._tokens = pa.array([], pa.string())
            if not self.useful or len(self._values) + len(values) > self.LIMIT:
                return
            self._values = pa.concat_arrays([self._values, values])
            self._tokens = pa.concat_arrays([self._tokens, tokens])


@dataclass
class _ColumnWork:
    """One identifier column of a batch on its way to tokens."""

    rows: int
    back: pa.Array | None  # dictionary indices, a mask of the rows with a value, or None
    known: _Known
    tokens: pa.Array  # per distinct value: its token if known, else null
    unknown: np.ndarray  # per distinct value: not known, so hashed now
    new: pa.Array  # the values hashed now
    share: float | None  # share of the distinct values known, None if nothing to look in


class _Hashing:
    """Base tokens under one key: `identity.service.hmac_hex` of the normalised value, as
    `identity.service.base_tokens`. Each distinct value of a batch is hashed once, values
    known from earlier batches not again, and all a batch's columns in one call."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._known: dict[str, _Known] = {}
        self._lock = threading.Lock()

    def _known_for(self, name: str) -> _Known:
        with self._lock:
            return self._known.setdefault(name, _Known())

    def tokens(self, columns: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """The base token of every value of each named column (its normalised text)."""
        work: dict[str, _ColumnWork] = {}
        for name, values in columns.items():
            known = self._known_for(name)
            if known.useful:
                encoded = pc.dictionary_encode(values)
                distinct, back = encoded.dictionary, encoded.indices
            else:  # values seldom repeat (NHS numbers): hash each, without a dictionary
                back = values.is_valid() if values.null_count else None
                distinct = values.filter(back) if back is not None else values
            tokens, unknown, looked = known.look_up(distinct)
            new = distinct.filter(pa.array(unknown))
            share = 1 - len(new) / len(distinct) if looked and len(distinct) else None
            work[name] = _ColumnWork(len(values), back, known, tokens, unknown, new, share)
        if not work:
            return {}
        hashed = identity.hmac_hex(self.key, pa.concat_arrays([w.new for w in work.values()]))
        out: dict[str, pa.Array] = {}
        offset = 0
        for name, w in work.items():
            fresh = hashed.slice(offset, len(w.new))
            offset += len(w.new)
            tokens = fresh
            if len(w.new) < len(w.tokens):
                tokens = pc.replace_with_mask(w.tokens, pa.array(w.unknown), fresh)
            w.known.learn(w.new, fresh, w.share)
            if w.back is None:
                out[name] = tokens
            elif pa.types.is_boolean(w.back.type):  # the rows with a value, nulls between
                out[name] = pc.replace_with_mask(pa.nulls(w.rows, pa.string()), w.back, tokens)
            else:  # a dictionary's indices
                out[name] = tokens.take(w.back)
        return out


def encrypt_rows(data_key, values: pa.Array, aad: bytes, stream: int, rows: np.ndarray):
    """Encrypt with nonces (stream, file row) so every nonce under this data key is unique.
    Per-value ciphertext: only for rewriting a snapshot made before decision 0039."""
    encrypt = AESGCM(data_key).encrypt
    pack = struct.Struct(">IQ").pack
    out = []
    for row, value in zip(rows.tolist(), values.to_pylist(), strict=True):
        if value is None:
            out.append(None)
        else:
            nonce = pack(stream, row)
            out.append(nonce + encrypt(nonce, value.encode(), aad))
    return pa.array(out, pa.binary())


def stage(
    settings: Settings,
    contract: Contract,
    handle: BinaryIO,
    *,
    file_name: str,
    file_format: FileFormat,
    size: int,
    snapshot_ref: str,
    progress: Progress | None = None,
) -> Staged:
    """Validate, pseudonymise and encrypt `handle` into a new staging directory.

    The staged snapshot is complete and fsynced when this returns with outcome accepted;
    on rejection, or when anything fails part way, the directory has been removed already."""
    directory = new_staging_dir(settings)
    try:
        staged = _stage(
            settings,
            contract,
            handle,
            directory,
            file_name=file_name,
            file_format=file_format,
            size=size,
            snapshot_ref=snapshot_ref,
            progress=progress,
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    if staged.outcome != "accepted":
        shutil.rmtree(directory, ignore_errors=True)
    return staged


def _too_long(contract: Contract, batch: pa.RecordBatch, first_row: int) -> str | None:
    """The first field over limits.max_field_bytes, named by row and column (no value)."""
    limit = contract.limits.max_field_bytes
    for name in batch.schema.names:
        lengths = pc.binary_length(batch.column(name))
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limit:
            index = int(np.argmax(_fill(lengths) > limit))
            return (
                f"row {first_row + index:,}, column {name!r}: the field is "
                f"{lengths[index].as_py():,} bytes, more than the contract's limit of "
                f"{limit:,} (limits.max_field_bytes)"
            )
    return None


def _fill(lengths: pa.Array) -> np.ndarray:
    return lengths.fill_null(0).to_numpy(zero_copy_only=False)


def _stage(
    settings: Settings,
    contract: Contract,
    handle: BinaryIO,
    directory: Path,
    *,
    file_name: str,
    file_format: FileFormat,
    size: int,
    snapshot_ref: str,
    progress: Progress | None = None,
) -> Staged:
    keys = identity.keystore(settings)
    key_version = keys.current_pseudonymisation_version()
    pseudonymisation_key = keys.pseudonymisation_key(key_version)
    data_key, wrapped = identity.new_data_key(settings)
    schema = data_schema(contract)
    plan = storage_plan(contract)
    pause = float(os.environ.get(PAUSE_ENV, "0") or 0)

    file_problems: list[str] = []
    sha = ""
    data = _DataFile(directory / DATA_FILE, contract, schema)
    sealed = _sealed_writers(contract, directory, data_key, snapshot_ref)
    hashing = _Hashing(pseudonymisation_key)
    writing = _Writing(data_key, snapshot_ref, sealed, schema)
    tally = _Tally(contract, directory, data, writing)
    try:
        source = open_source(contract, handle, file_format, size)
        # Validation and tokens of the next batches are worked out in two threads while this
        # one seals the last and a third compresses it into data.parquet (pyarrow and
        # DataFusion release the GIL); batches are still checked against the file's limits,
        # de-duplicated, sealed and written in file order.
        with ThreadPoolExecutor(max_workers=PREPARE_THREADS) as pool:
            pending: deque = deque()
            for batch in _with_ends(source.batches):
                if batch is not None:
                    first = tally.rows_read + 1 + sum(b.num_rows for b, _ in pending)
                    prepared = pool.submit(_prepare, contract, batch, first, source, hashing)
                    pending.append((batch, prepared))
                while pending and (batch is None or len(pending) >= PREPARE_THREADS):
                    tally.take(*pending.popleft())
                    if progress:
                        progress(tally.rows_read, source.done_units(), source.total_units)
                    if pause:
                        time.sleep(pause)
        sha = source.sha256()
        data.flush()
    except FileProblem as problem:
        file_problems.append(str(problem))
    finally:
        data.close()
        tally.close()

    rows_read, accepted, quarantined = tally.rows_read, tally.accepted, tally.quarantined
    invalid, duplicates, counts, kept = tally.invalid, tally.duplicates, tally.counts, tally.kept
    bad_rows = quarantined
    reasons = file_problems or _rejections(
        contract, rows_read, accepted, quarantined, invalid, duplicates
    )
    outcome = "rejected" if reasons else "accepted"
    report = {
        "outcome": outcome,
        "reasons": reasons,
        "file_name": file_name,
        "file_format": file_format.value,
        "file_sha256": sha,
        "rows_read": rows_read,
        "rows_accepted": accepted if outcome == "accepted" else 0,
        "rows_quarantined": quarantined if outcome == "accepted" else 0,
        "rows_with_problems": bad_rows,
        "rows_duplicated": duplicates,
        **_problem_summary(contract, counts, kept),
        "pseudonymisation_key_version": key_version,
    }
    if outcome == "rejected":
        return Staged(directory, outcome, report, rows_read, 0, 0, sha, plan)

    _write_manifest(
        directory,
        snapshot=snapshot_ref,
        contract=contract.model_dump(mode="json"),
        storage=plan,
        rows=accepted,
        quarantined=quarantined,
        file_sha256=sha,
        pseudonymisation_key_version=key_version,
        wrapped_data_key=wrapped,
    )
    return Staged(
        directory,
        outcome,
        report,
        rows_read,
        accepted,
        quarantined,
        sha,
        plan,
        wrapped,
        key_version,
    )


class _DataFile:
    """data.parquet, compressed in a thread of its own one batch behind (in file order), with
    dictionaries chosen from the first batch written."""

    def __init__(self, path: Path, contract: Contract, schema: pa.Schema) -> None:
        self.path, self.contract, self.schema = path, contract, schema
        self.writer: pq.ParquetWriter | None = None
        self._thread = ThreadPoolExecutor(max_workers=1)
        self._writing: Future | None = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self.writer is None:
            options = parquet_options(self.contract, batch)
            self.writer = pq.ParquetWriter(self.path, self.schema, **options)
        self.flush()
        self._writing = self._thread.submit(self.writer.write_batch, batch)

    def flush(self) -> None:
        """Wait for the batch being written; its error, if any, is raised here."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def close(self) -> None:
        """Close the file, complete or not (a failed ingest's directory is removed)."""
        with contextlib.suppress(Exception):  # already raised by flush(), or superseded
            self.flush()
        self._thread.shutdown()
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, self.schema, **parquet_options(self.contract))
        self.writer.close()


class _Tally:
    """Writing the batches in file order, and what the report says of them."""

    def __init__(self, contract, directory: Path, data: _DataFile, writing: _Writing) -> None:
        self.contract, self.directory, self.data, self.writing = (
            contract, directory, data, writing,
        )  # fmt: skip
        self.rows_read = self.accepted = self.quarantined = self.invalid = self.duplicates = 0
        self.seen_ids: dict[str, int] = {}
        self.kept: list[dict] = []
        self.counts: Counter[tuple[str, str]] = Counter()
        self.qwriter: pq.ParquetWriter | None = None
        self.qsealed: dict[str, identity.SealedWriter] = {}

    def take(self, batch, prepared) -> None:
        """One batch: limits, then its validation and tokens (from the worker), duplicates
        against earlier rows, quarantined rows sealed, accepted rows written."""
        contract, first, n = self.contract, self.rows_read + 1, batch.num_rows
        _limits(contract, batch, first, self.rows_read)
        checked, tokens = prepared.result()
        repeated = _duplicates(contract, batch, first, self.seen_ids, checked)
        self.invalid += int(checked.bad.sum()) - repeated
        self.duplicates += repeated
        self.counts.update(checked.problem_counts())
        if len(self.kept) < MAX_PROBLEMS_KEPT:  # problems are made only while some are kept
            room = MAX_PROBLEMS_KEPT - len(self.kept)
            self.kept += [problem.as_dict() for problem in checked.problems[:room]]
        rows = np.arange(first, first + n, dtype=np.int64)
        good = ~checked.bad
        if checked.bad.any():
            if self.qwriter is None:
                self.qwriter = pq.ParquetWriter(
                    self.directory / QUARANTINE_FILE, quarantine_schema(contract),
                    compression="zstd",
                )  # fmt: skip
                self.qsealed = _quarantine_writers(
                    contract, self.directory, self.writing.data_key, self.writing.snapshot_ref
                )
            self.qwriter.write_batch(
                _quarantine_batch(contract, batch, rows, checked.bad, self.qsealed)
            )
            self.quarantined += int(checked.bad.sum())
        if good.any():
            self.data.write(
                _accepted_batch(contract, checked, tokens, rows[good], good, self.writing)
            )
            self.accepted += int(good.sum())
        self.rows_read += n

    def close(self) -> None:
        if self.qwriter is not None:
            self.qwriter.close()
        for sealed_writer in [*self.writing.sealed.values(), *self.qsealed.values()]:
            sealed_writer.close()


def _limits(contract, batch, first: int, rows_read: int) -> None:
    """The file's limits (a FileProblem refuses it whole), batch by batch in file order."""
    if rows_read + batch.num_rows > contract.limits.max_rows:
        raise FileProblem(
            f"the file has more than {contract.limits.max_rows:,} rows, the contract's "
            "limit (limits.max_rows)"
        )
    too_long = _too_long(contract, batch, first)
    if too_long:
        raise FileProblem(too_long)


def _with_ends(batches):
    """The batches, then None once they are done (so the last ones in flight are written)."""
    yield from batches
    yield None


PREPARE_THREADS = 2  # batches worked on at once: validation and tokens of one, writing another


def _prepare(contract, batch, first: int, source, hashing: _Hashing):
    """In a worker thread: each row validated, and every identifier value's base token (the
    rows found bad are dropped later; a token is the same whichever rows are kept)."""
    checked = validate_batch(contract, batch, first, source.extra_formats)
    tokens = hashing.tokens(
        {c.name: checked.normalised[c.name] for c in contract.columns if c.is_identifier}
    )
    return checked, tokens


def _duplicates(contract, batch, first: int, seen_ids: dict, checked) -> int:
    """Mark rows repeating an earlier record id bad (in file order); how many there were."""
    if not contract.record_id:
        return 0
    repeated, repeats = duplicate_records(contract, batch, first, seen_ids, checked.bad)
    checked.bad |= repeated
    checked.extra_problems += repeats
    return int(repeated.sum())


def _sealed_writers(contract, directory: Path, data_key: bytes, snapshot_ref: str) -> dict:
    """One writer per identifier column, sealing the column whole beside the Parquet."""
    sealed: dict[str, identity.SealedWriter] = {}
    for stream, column in enumerate(contract.columns):
        if column.is_identifier:
            (directory / sealed_path(stream)).parent.mkdir(mode=0o700, exist_ok=True)
            sealed[column.name] = identity.SealedWriter(
                directory / sealed_path(stream), data_key, snapshot_ref, column.name, stream
            )
    return sealed


@dataclass(frozen=True)
class _Writing:
    """What writing accepted rows needs: the data key, the sealed writers, the schema."""

    data_key: bytes
    snapshot_ref: str
    sealed: dict[str, Any]
    schema: pa.Schema


def _quarantine_batch(contract, batch, rows, bad, qsealed: dict) -> pa.RecordBatch:
    """Quarantined rows: their file row numbers in `quarantine.parquet`, every field sealed
    (`sealed/quarantine-<k>.bin`); nothing tokenised or in clear."""
    bad_index = pa.array(np.nonzero(bad)[0])
    bad_rows = rows[bad]
    for column in contract.columns:
        values = pc.cast(batch.column(column.name), pa.string()).take(bad_index)
        qsealed[column.name].write(values, bad_rows)
    return pa.record_batch([pa.array(bad_rows, pa.int64())], schema=quarantine_schema(contract))


def _quarantine_writers(contract, directory: Path, data_key: bytes, snapshot_ref: str) -> dict:
    """One sealed writer per contract column for the quarantined rows' fields. Nonce streams
    SEALED_STREAM + QUARANTINE_STREAM + k, disjoint from the accepted rows' (k < 2**16)."""
    (directory / quarantine_sealed_path(0)).parent.mkdir(mode=0o700, exist_ok=True)
    return {
        column.name: identity.SealedWriter(
            directory / quarantine_sealed_path(index),
            data_key,
            snapshot_ref,
            f"quarantine/{column.name}",
            QUARANTINE_STREAM + index,
        )
        for index, column in enumerate(contract.columns)
    }


def _accepted_batch(contract, checked, tokens, good_rows, good, writing) -> pa.RecordBatch:
    """Accepted rows as stored: plain columns typed, identifiers as token and any
    generalisation, their values sealed alongside (the only encrypted copy, decision 0039)."""
    index = pa.array(np.nonzero(good)[0])
    arrays = [pa.array(good_rows, pa.int64())]
    for column in contract.columns:
        typed = checked.typed[column.name].take(index)
        if not column.is_identifier:
            arrays.append(pc.cast(typed, ARROW_TYPES[column.type]))
            continue
        norm = checked.normalised[column.name].take(index)
        arrays.append(tokens[column.name].take(index))
        if column.identifier in GENERALISED:
            arrays.append(generalise(column.identifier, typed, norm))
        writing.sealed[column.name].write(norm, good_rows)
    return pa.record_batch(arrays, schema=writing.schema)


def _rejections(contract, rows_read, accepted, quarantined, invalid, duplicates) -> list[str]:
    """Why the contract refuses the whole file, if it does."""
    reasons: list[str] = []
    if invalid and contract.bad_rows.value == "reject":
        reasons.append(
            f"{invalid:,} of {rows_read:,} rows have problems and the contract says bad "
            "rows reject the file"
        )
    if duplicates and contract.duplicate_records.value == "reject":
        reasons.append(
            f"{duplicates:,} of {rows_read:,} rows repeat a {contract.record_id!r} of an "
            "earlier row and the contract says duplicate records reject the file"
        )
    if reasons:
        return reasons  # the policy has spoken; the quarantine limit no longer matters
    if quarantined and rows_read and quarantined / rows_read > contract.quarantine_limit:
        return [
            f"{quarantined:,} of {rows_read:,} rows have problems, more than the contract's "
            f"quarantine limit of {contract.quarantine_limit:.0%}"
        ]
    if accepted == 0:
        return ["the file has no rows that could be accepted"]
    return []


def _problem_summary(contract, counts: Counter, kept: list[dict]) -> dict[str, Any]:
    return {
        "policy": contract.bad_rows.value,
        "duplicate_policy": contract.duplicate_records.value,
        "problem_count": sum(counts.values()),
        "problems_shown": len(kept),
        "problem_counts": [
            {"column": column, "code": code, "count": count}
            for (column, code), count in sorted(counts.items(), key=lambda kv: -kv[1])
        ],
        "problems": kept,
    }


def _write_manifest(directory: Path, **manifest: Any) -> None:
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
    # Written inside a 0700 staging directory, so never readable by others; 0600 before the
    # snapshot is moved into place.
    tighten_tree(directory)
    fsync_tree(directory)


def problem_lines(report: dict[str, Any], limit: int = 20) -> list[str]:
    lines = []
    for p in report.get("problems", [])[:limit]:
        shown = f" (value {p['value']!r})" if p.get("value") is not None else ""
        lines.append(f"row {p['row']}, column {p['column']!r}: {p['message']}{shown}")
    return lines
