"""Pseudonymous tokens and field encryption.

Interface for other domains (the sharing engine in particular):

* `normalise(kind, values) -> pa.StringArray` — the canonical form tokens and ciphertexts are
  made from (NHS number without spaces, postcode `WR5 1PS`, names upper case, ...).
* `base_tokens(settings, values, key_version) -> pa.StringArray` — HMAC-SHA256 under
  pseudonymisation key vN, hex. What snapshots store as `<column>__token`.
* `agreement_token(settings, base_token, agreement_ref) -> str` and
  `agreement_tokens(settings, base_tokens, agreement_ref) -> pa.StringArray` —
  HMAC-SHA256(HKDF(agreement master, info=agreement_ref), base token), hex. Stable within one
  agreement, different between agreements: recipients cannot join extracts across agreements.
* `decrypt_column(settings, snapshot, column, values) -> pa.StringArray` — the normalised
  plaintext of an identifier column's `<column>__enc` values, for an identifiable grant.
* `SealedWriter` / `unseal_column(settings, snapshot, column, path, rows)` — the same
  normalised values sealed a whole batch at a time (columnar AES-256-GCM, decision 0013): what
  the sharing engine reads when a grant needs a column in clear, at native speed.

Nothing here logs, prints or raises with a value in its message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import threading
from functools import lru_cache
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from civicshare.config import Settings
from civicshare.identity.keys import KeyStore, fingerprint, store_for

WRAP_AAD = b"civicshare data key v1"
AGREEMENT_INFO = b"civicshare agreement token v1\x00"


class DecryptionError(Exception):
    """A ciphertext did not authenticate (wrong key, wrong column or tampered)."""


class SnapshotKeys(Protocol):
    """What decrypt_column needs from a snapshot (datasets.service.SnapshotInfo has it)."""

    wrapped_data_key: str
    ref: str  # "<partner>/<dataset>/v<N>": bound into every ciphertext as associated data


def keystore(settings: Settings) -> KeyStore:
    return store_for(settings.effective_keys_dir)


# -- normalisation -------------------------------------------------------------------------


def _null_if_empty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def replace_where(
    values: pa.Array,
    pattern: str,
    replacement: str,
    needs: str | None = None,
    among: pa.Array | None = None,
):
    """`pc.replace_substring_regex`, run only on the values that `needs` (default: the
    pattern) matches: the same result, at the cost of a match (much cheaper than a replace)
    when few values need changing. `needs` must match every value the replacement changes;
    `among`, a mask found by a cheaper kernel that holds every such value, keeps even the
    match to those values."""
    if among is None:
        hit = pc.match_substring_regex(values, needs or pattern).fill_null(False)
    else:
        among = among.fill_null(False)
        if not pc.any(among).as_py():
            return values
        matched = pc.match_substring_regex(values.filter(among), needs or pattern)
        hit = pc.replace_with_mask(among, among, matched.fill_null(False))
    hits = pc.sum(hit).as_py() or 0
    if hits == 0:
        return values
    if hits == len(values):
        return pc.replace_substring_regex(values, pattern, replacement)
    changed = pc.replace_substring_regex(values.filter(hit), pattern, replacement)
    return pc.replace_with_mask(values, hit, changed)


def _not_digits(values: pa.Array) -> pa.Array:
    """Values not made only of ASCII digits: the only NHS numbers and UPRNs that spaces or
    hyphens can be in (most arrive as digits alone)."""
    return pc.invert(pc.ascii_is_decimal(values))


def _spaces(values: pa.Array) -> pa.Array:
    # Only a run of whitespace, or whitespace that is not a space, changes.
    return replace_where(pc.utf8_trim_whitespace(values), r"\s+", " ", needs=r"\s\s|[^\S ]")


def normalise(kind: str, values: pa.Array) -> pa.Array:
    """Canonical text for an identifier kind; blank becomes null. Vectorised."""
    values = pc.cast(values, pa.string())
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if kind == "nhs_number":
        values = replace_where(values, r"[\s\-]", "", among=_not_digits(values))
    elif kind == "postcode":
        values = pc.replace_substring(pc.utf8_upper(values), " ", "")
        values = replace_where(values, r"\s+", "")
        # "WR51PS" -> "WR5 1PS": a space before the inward code (digit, two letters)
        inward = pc.match_substring_regex(values, r"^.+\d[A-Z]{2}$")
        spaced = pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(values, 0, -3), pc.utf8_slice_codeunits(values, -3), " "
        )
        values = pc.if_else(inward.fill_null(False), spaced, values)
    elif kind == "uprn":
        values = replace_where(values, r"\s+", "", among=_not_digits(values))
        values = replace_where(values, r"^0+(\d)", r"\1", among=pc.starts_with(values, "0"))
    elif kind == "phone":
        values = replace_where(values, r"\D", "")
        values = replace_where(values, r"^44(\d{10})$", r"0\1")
    elif kind == "email":
        values = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    elif kind in ("given_name", "family_name", "full_name", "address"):
        values = pc.replace_substring(values, ",", " ")
        values = _spaces(pc.utf8_upper(values))
    else:  # date_of_birth arrives as ISO text from the typed column; other_id
        values = _spaces(values)
    return _null_if_empty(values)


# -- tokens --------------------------------------------------------------------------------


HMAC_SLICE = 1 << 20  # values hashed per DataFusion call: keeps every offset in 32 bits
_HEX_PAIRS = np.frombuffer(b"".join(b"%02x" % i for i in range(256)), np.uint16)
_SHA256 = threading.local()  # one DataFusion context per thread, each on one partition


def hmac_hex(key: bytes, values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """HMAC-SHA256(key, value) in lower-case hex for every value (its UTF-8 bytes), in order,
    null for null: exactly `hmac.digest(key, value.encode(), "sha256").hex()`.

    Vectorised (decision 0044): HMAC is H((K xor opad) || H((K xor ipad) || m)); the two
    SHA-256 passes run over whole arrays in DataFusion's sha256 (Rust, with the CPU's SHA
    instructions), the padding and the hex in Arrow and numpy. A Python call per value costs
    about three times as much, DuckDB's sha256 about twice."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    present = values.drop_null() if values.null_count else values
    pads = hmac_pads(key)
    parts = [
        _hmac_present(pads, present.slice(start, HMAC_SLICE))
        for start in range(0, len(present), HMAC_SLICE)
    ]
    hexed = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    if not values.null_count:
        return hexed
    return pc.replace_with_mask(pa.nulls(len(values), pa.string()), values.is_valid(), hexed)


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The HMAC-SHA256 key blocks (K xor ipad, K xor opad); a key longer than a block is
    hashed first, as HMAC says."""
    block = (key if len(key) <= 64 else hashlib.sha256(key).digest()).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)


def _hmac_present(pads: tuple[bytes, bytes], values: pa.Array) -> pa.Array:
    inner_pad, outer_pad = pads
    message = pc.binary_join_element_wise(
        pa.scalar(inner_pad, pa.binary()), pc.cast(values, pa.binary()), pa.scalar(b"", pa.binary())
    )
    inner = byte_rows(_sha256(message), 32)
    outer = np.empty((len(values), 96), np.uint8)
    outer[:, :64] = np.frombuffer(outer_pad, np.uint8)
    outer[:, 64:] = inner
    digests = byte_rows(_sha256(_fixed_width(pa.binary(), outer)), 32)
    return _fixed_width(pa.string(), _HEX_PAIRS[digests].view(np.uint8))


def _sha256(messages: pa.Array) -> pa.Array:
    import datafusion  # a heavy import, paid by the first hash only

    context = getattr(_SHA256, "context", None)
    if context is None:
        context = datafusion.SessionContext(datafusion.SessionConfig().with_target_partitions(1))
        _SHA256.context = context
    table = context.from_arrow(pa.table({"m": messages}))
    digest = datafusion.functions.sha256(datafusion.col("m")).alias("h")
    return table.select(digest).to_arrow_table().column("h").combine_chunks()


def byte_rows(values: pa.Array, width: int) -> np.ndarray:
    """A string or binary array whose values are all `width` bytes long as a (len(values),
    width) uint8 matrix, read from its buffers without copying."""
    wide = pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type)
    _, offsets, data = values.buffers()
    start = np.frombuffer(offsets, np.int64 if wide else np.int32)[values.offset]
    return np.frombuffer(data, np.uint8)[start : start + width * len(values)].reshape(-1, width)


def _fixed_width(kind: pa.DataType, rows: np.ndarray) -> pa.Array:
    """A binary or string array whose i-th value is the bytes of row i of `rows`."""
    count, width = rows.shape
    offsets = np.arange(0, count * width + 1, width, dtype=np.int32)
    data = np.ascontiguousarray(rows)
    return pa.Array.from_buffers(kind, count, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def base_tokens(settings: Settings, values: pa.Array, key_version: int) -> pa.Array:
    """HMAC-SHA256(pseudonymisation key v`key_version`, normalised value), hex; null stays."""
    return hmac_hex(keystore(settings).pseudonymisation_key(key_version), values)


@lru_cache(maxsize=256)
def _agreement_key(master: bytes, agreement_ref: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=AGREEMENT_INFO + agreement_ref.encode(),
    ).derive(master)


def agreement_key(settings: Settings, agreement_ref: str) -> bytes:
    if not agreement_ref:
        raise ValueError("an agreement reference is needed to derive its token key")
    return _agreement_key(keystore(settings).agreement_master(), agreement_ref)


def agreement_token(settings: Settings, base_token: str, agreement_ref: str) -> str:
    """The token a recipient under `agreement_ref` sees for one base token."""
    return hmac.digest(agreement_key(settings, agreement_ref), base_token.encode(), "sha256").hex()


def agreement_tokens(settings: Settings, tokens: pa.Array, agreement_ref: str) -> pa.Array:
    """`agreement_token` over a pyarrow (or chunked) array of base tokens; null stays null."""
    return hmac_hex(agreement_key(settings, agreement_ref), tokens)


# -- envelope encryption -------------------------------------------------------------------


def new_data_key(settings: Settings) -> tuple[bytes, str]:
    """A fresh 256-bit data key and its wrapped form (base64 text, safe to store)."""
    kek = keystore(settings).kek()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(12)
    wrapped = nonce + AESGCM(kek).encrypt(nonce, data_key, WRAP_AAD)
    return data_key, f"kek-{fingerprint(kek)}:" + base64.b64encode(wrapped).decode()


def unwrap_data_key(settings: Settings, wrapped_data_key: str) -> bytes:
    kek = keystore(settings).kek()
    label, _, body = wrapped_data_key.partition(":")
    if label != f"kek-{fingerprint(kek)}":
        raise DecryptionError(
            f"this data key was wrapped by {label}, not by the gateway's current "
            f"key-encryption key kek-{fingerprint(kek)} (see docs/keys.md)"
        )
    raw = base64.b64decode(body)
    try:
        return AESGCM(kek).decrypt(raw[:12], raw[12:], WRAP_AAD)
    except Exception:
        raise DecryptionError("the data key did not unwrap (wrong key-encryption key)") from None


def encrypt_values(data_key: bytes, values: pa.Array, aad: bytes, stream: int) -> pa.Array:
    """AES-256-GCM per value: nonce (stream id, row counter) || ciphertext || tag.

    Nonces are unique under one data key as long as (stream, row) pairs are: each snapshot has
    its own data key and each column its own stream id."""
    aead = AESGCM(data_key)
    encrypt = aead.encrypt
    pack = struct.Struct(">IQ").pack
    out = []
    for row, value in enumerate(values.to_pylist()):
        if value is None:
            out.append(None)
            continue
        nonce = pack(stream, row)
        out.append(nonce + encrypt(nonce, value.encode(), aad))
    return pa.array(out, pa.binary())


def decrypt_values(data_key: bytes, values: pa.Array, aad: bytes) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    decrypt = AESGCM(data_key).decrypt
    out = []
    try:
        for value in values.to_pylist():
            out.append(None if value is None else decrypt(value[:12], value[12:], aad).decode())
    except Exception:
        raise DecryptionError("a value did not decrypt (wrong key or column)") from None
    return pa.array(out, pa.string())


def column_aad(snapshot_ref: str, column: str) -> bytes:
    return f"civicshare/{snapshot_ref}/{column}".encode()


def decrypt_column(
    settings: Settings, snapshot: SnapshotKeys, column: str, values: pa.Array
) -> pa.Array:
    """Plaintext (normalised) of an identifier column's `<column>__enc` values."""
    data_key = unwrap_data_key(settings, snapshot.wrapped_data_key)
    return decrypt_values(data_key, values, column_aad(snapshot.ref, column))


# -- sealed columns (columnar envelope encryption) -----------------------------------------
#
# Per-value ciphertext costs one AES-GCM call from Python per value: about a microsecond each,
# seconds for a million-row extract. A snapshot therefore also keeps each identifier column
# *sealed*: every ingest batch's file row numbers (`_row`) and normalised values as one Arrow
# IPC buffer (zstd), encrypted with AES-256-GCM under the snapshot's data key as one message.
# A file is a sequence of frames, each a 4-byte big-endian length and `nonce || ciphertext ||
# tag`.
#
# Nonce: (SEALED_STREAM + column index, chunk number), disjoint from the per-value streams
# (column index < 2**16, quarantine 2**16 + index). Associated data: the column's AAD, then
# NUL, "sealed", NUL, the chunk number: a chunk cannot be moved to another snapshot, column or
# position, and a missing final chunk shows as a row count that does not match the snapshot.

SEALED_STREAM = 1 << 20
_FRAME = struct.Struct(">I")


def _sealed_aad(snapshot_ref: str, column: str, chunk: int) -> bytes:
    return column_aad(snapshot_ref, column) + b"\x00sealed\x00" + str(chunk).encode()


class SealedWriter:
    """Appends sealed chunks of one identifier column to `path` (during ingest or a trim)."""

    def __init__(self, path, data_key: bytes, snapshot_ref: str, column: str, stream: int):
        self._file = open(path, "wb")  # noqa: SIM115
        self._aead = AESGCM(data_key)
        self._ref, self._column, self._stream = snapshot_ref, column, SEALED_STREAM + stream
        self._chunk = 0

    def write(self, values: pa.Array, rows) -> None:
        """One chunk: `values` (normalised text) of the file rows `rows`."""
        batch = pa.record_batch(
            [pa.array(rows, pa.int64()), pc.cast(values, pa.string())], names=["_row", "value"]
        )
        sink = pa.BufferOutputStream()
        options = ipc.IpcWriteOptions(compression="zstd")
        with ipc.new_stream(sink, batch.schema, options=options) as writer:
            writer.write_batch(batch)
        nonce = struct.pack(">IQ", self._stream, self._chunk)
        sealed = nonce + self._aead.encrypt(
            nonce, sink.getvalue().to_pybytes(), _sealed_aad(self._ref, self._column, self._chunk)
        )
        self._file.write(_FRAME.pack(len(sealed)) + sealed)
        self._chunk += 1

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def unseal_values(data_key: bytes, path, snapshot_ref: str, column: str, rows: int) -> pa.Table:
    """Every row of a sealed column: a table of `_row` (file row number) and `value`. `path`
    may also be an open binary file (a snapshot on object storage)."""
    aead = AESGCM(data_key)
    chunks: list[pa.RecordBatch] = []
    if hasattr(path, "read"):
        data = path.read()
    else:
        with open(path, "rb") as handle:
            data = handle.read()
    offset, chunk = 0, 0
    try:
        while offset < len(data):
            (length,) = _FRAME.unpack_from(data, offset)
            frame = memoryview(data)[offset + 4 : offset + 4 + length]
            plain = aead.decrypt(
                bytes(frame[:12]), frame[12:], _sealed_aad(snapshot_ref, column, chunk)
            )
            with ipc.open_stream(plain) as reader:
                chunks.extend(reader)
            offset += 4 + length
            chunk += 1
    except Exception:
        raise DecryptionError(
            "a sealed column did not decrypt (wrong key, column or chunk order)"
        ) from None
    schema = pa.schema([("_row", pa.int64()), ("value", pa.string())])
    values = pa.Table.from_batches(chunks, schema)
    if values.num_rows != rows:
        raise DecryptionError("a sealed column does not hold every row of its snapshot")
    return values


def unseal_column(settings: Settings, snapshot: SnapshotKeys, column: str, path, rows: int):
    """Plaintext (normalised) of a sealed identifier column, every row, snapshot file order."""
    data_key = unwrap_data_key(settings, snapshot.wrapped_data_key)
    return unseal_values(data_key, path, snapshot.ref, column, rows)
