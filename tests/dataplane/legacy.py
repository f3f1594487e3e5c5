"""Turn a freshly ingested snapshot into the layout snapshots had before decision 0039 (one
AES-GCM ciphertext per identifier value, `<c>__enc`, in `data.parquet`, and every quarantined
field the same way in `quarantine.parquet`), so tests can prove such snapshots still read and
still rewrite. With `sealed=False`, also as before decision 0013 (no sealed columns at all).

The ciphertexts are made exactly as the old ingest made them (`encrypt_rows`, nonce stream =
column index, quarantine 2**16 + index, associated data = the column's AAD)."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from civicshare import db
from civicshare.dataplane.ingest import QUARANTINE_STREAM, encrypt_rows
from civicshare.datasets.models import DatasetSnapshot
from civicshare.identity import service as identity


def make_per_value(settings, sessions, snapshot, *, sealed: bool = True) -> None:
    data_key = identity.unwrap_data_key(settings, snapshot.wrapped_data_key)
    table = pq.read_table(snapshot.data_path)
    rows = np.asarray(table.column("_row").to_numpy(), dtype=np.int64)
    storage = {name: dict(entry) for name, entry in snapshot.storage.items()}
    for stream, column in enumerate(snapshot.contract.columns):
        if not column.is_identifier:
            continue
        entry = storage[column.name]
        path = snapshot.directory / entry["sealed"]
        plain = identity.unseal_values(data_key, path, snapshot.ref, column.name, len(rows))
        aad = identity.column_aad(snapshot.ref, column.name)
        values = plain.column("value").combine_chunks()
        encrypted = encrypt_rows(data_key, values, aad, stream, rows)
        at = table.schema.get_field_index(f"{column.name}__token") + 1
        table = table.add_column(at, pa.field(f"{column.name}__enc", pa.binary()), encrypted)
        entry["encrypted"] = f"{column.name}__enc"
        if not sealed:
            del entry["sealed"]
    pq.write_table(table, snapshot.data_path, compression="zstd")
    if snapshot.quarantined_count:
        quarantine = pq.read_table(snapshot.quarantine_path)
        qrows = np.asarray(quarantine.column("_row").to_numpy(), dtype=np.int64)
        for index, column in enumerate(snapshot.contract.columns):
            name = f"quarantine/{column.name}"
            path = snapshot.directory / f"sealed/quarantine-{index}.bin"
            plain = identity.unseal_values(data_key, path, snapshot.ref, name, len(qrows))
            aad = identity.column_aad(snapshot.ref, name)
            values = plain.column("value").combine_chunks()
            encrypted = encrypt_rows(data_key, values, aad, QUARANTINE_STREAM + index, qrows)
            quarantine = quarantine.append_column(f"{column.name}__enc", encrypted)
            path.unlink()
        pq.write_table(quarantine, snapshot.quarantine_path, compression="zstd")
    if not sealed:
        shutil.rmtree(snapshot.directory / "sealed", ignore_errors=True)
    with db.session_scope(sessions) as session:
        session.get(DatasetSnapshot, snapshot.id).storage = storage
