"""How each contract column is stored in a snapshot: plain, tokenised, sealed, generalised.

Snapshots made since decision 0039 keep identifier values only sealed (a batch of a column at a
time, `sealed/<k>.bin`) and quarantined fields the same way (`sealed/quarantine-<k>.bin`).
Older snapshots also hold one AES-GCM ciphertext per value (`<c>__enc`, in `data.parquet` and
`quarantine.parquet`); their storage map says so with `"encrypted"`, and they still read."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from civicshare.datasets.contracts import ColumnType, Contract, IdentifierKind

# -- how columns are stored ----------------------------------------------------------------

GENERALISED = {
    IdentifierKind.date_of_birth: ("year", pa.int16()),
    IdentifierKind.postcode: ("sector", pa.string()),
}


def storage_plan(contract: Contract) -> dict[str, dict[str, Any]]:
    """For each contract column, the stored columns (see docs/datasets.md)."""
    plan: dict[str, dict[str, Any]] = {}
    for index, column in enumerate(contract.columns):
        entry: dict[str, Any] = {
            "type": column.type.value,
            "identifier": column.identifier.value,
            "special_category": column.special_category,
            "special_category_kind": column.special_category_kind,
            "criminal_offence": column.criminal_offence,
        }
        if column.is_identifier:
            entry["stored_as"] = "pseudonymised"
            entry["token"] = f"{column.name}__token"
            entry["sealed"] = sealed_path(index)
            if column.identifier in GENERALISED:
                label, _ = GENERALISED[column.identifier]
                entry["generalised"] = {label: f"{column.name}__{label}"}
        else:
            entry["stored_as"] = "plain"
            entry["plain"] = column.name
        plan[column.name] = entry
    return plan


def sealed_path(stream: int) -> str:
    """Where a snapshot keeps an identifier column sealed (identity.service.SealedWriter)."""
    return f"sealed/{stream}.bin"


def quarantine_sealed_path(index: int) -> str:
    """Where a snapshot keeps the quarantined rows' values of its contract column `index`."""
    return f"sealed/quarantine-{index}.bin"


def per_value(storage: dict[str, dict[str, Any]]) -> bool:
    """Whether a snapshot (by its storage map) holds per-value ciphertext (before 0039)."""
    return any(entry.get("encrypted") for entry in storage.values())


ARROW_TYPES = {
    ColumnType.string: pa.string(),
    ColumnType.integer: pa.int64(),
    ColumnType.decimal: pa.float64(),
    ColumnType.boolean: pa.bool_(),
    ColumnType.date: pa.date32(),
    ColumnType.datetime: pa.timestamp("s"),
}


def data_schema(contract: Contract, encrypted: bool = False) -> pa.Schema:
    """The columns of `data.parquet`; `encrypted`: with the per-value ciphertext columns that
    snapshots made before decision 0039 hold."""
    fields = [pa.field("_row", pa.int64(), nullable=False)]
    for column in contract.columns:
        if column.is_identifier:
            fields.append(pa.field(f"{column.name}__token", pa.string()))
            if encrypted:
                fields.append(pa.field(f"{column.name}__enc", pa.binary()))
            if column.identifier in GENERALISED:
                label, kind = GENERALISED[column.identifier]
                fields.append(pa.field(f"{column.name}__{label}", kind))
        else:
            fields.append(pa.field(column.name, ARROW_TYPES[column.type]))
    return pa.schema(fields)


# Tokens of identifiers that seldom repeat (one per person or address): a dictionary page
# would only be built to be abandoned, so these are written plain.
SELDOM_REPEATED = {
    IdentifierKind.nhs_number, IdentifierKind.uprn, IdentifierKind.phone,
    IdentifierKind.email, IdentifierKind.other_id,
}  # fmt: skip


def parquet_options(contract: Contract, first: pa.RecordBatch | None = None) -> dict[str, Any]:
    """How ingest writes `data.parquet`: zstd at its cheapest level (the sealed columns and
    tokens hardly compress further at higher ones), dictionaries only where values repeat:
    not for row numbers or the tokens of SELDOM_REPEATED identifiers, nor for a column with
    more distinct values than half the rows of the first batch written (record ids, amounts,
    times), where the writer would build a dictionary page only to abandon it. Readers see
    the same values whatever these are."""
    plain = {"_row"} | {
        f"{c.name}__token" for c in contract.columns if c.identifier in SELDOM_REPEATED
    }
    names = data_schema(contract).names
    if first is not None:
        plain |= {
            name
            for name in names
            if name not in plain and 2 * pc.count_distinct(first.column(name)).as_py() > len(first)
        }
    dictionary = [name for name in names if name not in plain]
    return {"compression": "zstd", "compression_level": 1, "use_dictionary": dictionary}


def quarantine_schema(contract: Contract, encrypted: bool = False) -> pa.Schema:
    """The columns of `quarantine.parquet`: the file row numbers (the values are sealed); with
    `encrypted`, every field's per-value ciphertext as snapshots before decision 0039 hold."""
    fields = [pa.field("_row", pa.int64(), nullable=False)]
    if encrypted:
        fields += [pa.field(f"{c.name}__enc", pa.binary()) for c in contract.columns]
    return pa.schema(fields)


def generalise(kind: IdentifierKind, typed: pa.Array, norm: pa.Array) -> pa.Array:
    if kind == IdentifierKind.date_of_birth:
        return pc.cast(pc.year(typed), pa.int16())
    # postcode sector: outward code, space, sector digit ("WR5 1")
    return pc.utf8_slice_codeunits(norm, 0, -2)
