"""Normalisation, q-grams and the encoding of identifiers into Bloom filters."""

from __future__ import annotations

import csv
import hmac
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from civicshare.linkage.pprl.scheme import (
    FORMAT_NAME,
    FORMAT_VERSION,
    PprlError,
    Scheme,
    derive_key,
    key_check,
)

ENCODE_CHUNK = 1 << 14  # records whose filters are built at once


# --------------------------------------------------------------------------------------------
# Normalisation and q-grams
# --------------------------------------------------------------------------------------------

_NOT_LETTER = re.compile(r"[^A-Z ]+")
_NOT_ALNUM = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
_DATE_SEPARATORS = re.compile(r"[-/. ]")


def _fold(value: str) -> str:
    folded = unicodedata.normalize("NFKD", value)
    return "".join(c for c in folded if not unicodedata.combining(c)).upper()


def normalise(kind: str, value: str) -> str | None:
    """The comparable form of one value, or None when it is blank.

    Raises ValueError (with a message fit for the user, without the value) when a date is not
    a date shape.
    """
    value = value.strip()
    if not value:
        return None
    if kind == "name":
        text = _SPACES.sub(" ", _NOT_LETTER.sub(" ", _fold(value))).strip()
    elif kind in ("text", "exact"):
        text = _SPACES.sub(" ", _NOT_ALNUM.sub(" ", _fold(value))).strip()
    elif kind == "postcode":
        text = _NOT_ALNUM.sub("", _fold(value)).replace(" ", "")
    elif kind == "digits":
        text = _NOT_DIGIT.sub("", value)
    elif kind == "date":
        text = _date_digits(value)
    else:  # pragma: no cover - kinds are validated with the scheme
        raise ValueError(f"unknown kind {kind!r}")
    return text or None


def _date_digits(value: str) -> str:
    """YYYYMMDD from YYYY-MM-DD, YYYYMMDD or the UK's DD/MM/YYYY (any of - / . as separator).

    Shape only: a typo such as month 13 must still link, so calendar validity is not checked.
    """
    parts = _DATE_SEPARATORS.split(value)
    if len(parts) == 1 and len(value) == 8 and value.isdigit():
        return value
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        if len(parts[0]) == 4 and 1 <= len(parts[1]) <= 2 and 1 <= len(parts[2]) <= 2:
            return f"{parts[0]}{parts[1]:0>2}{parts[2]:0>2}"
        if len(parts[2]) == 4 and 1 <= len(parts[0]) <= 2 and 1 <= len(parts[1]) <= 2:
            return f"{parts[2]}{parts[1]:0>2}{parts[0]:0>2}"
    # The value itself is not repeated: errors end up in terminals and logs (decision 0006).
    raise ValueError("not a date as YYYY-MM-DD, YYYYMMDD or DD/MM/YYYY")


def qgrams(kind: str, text: str, q: int) -> list[str]:
    """The q-grams of a normalised value (in order, repeats kept); `exact` values are one token."""
    return [g.decode("ascii") for g in gram_bytes(kind, text.encode("ascii"), q)]


def gram_bytes(kind: str, data: bytes, q: int) -> list[bytes]:
    # Normalised values are ASCII, so byte slices are character slices. Repeated q-grams set
    # the same bits, so there is no need to remove them.
    if kind == "exact":
        return [data]
    # Padding gives the first and last characters their own q-grams.
    if q > 1 and kind in ("name", "text"):
        data = b"_" + data + b"_"
    if len(data) < q:
        return [data]
    return [data[i : i + q] for i in range(len(data) - q + 1)]


_SOUNDEX = {c: d for d, group in enumerate(
    ("AEIOUYHW", "BFPV", "CGJKQSXZ", "DT", "L", "MN", "R")) for c in group}  # fmt: skip


def soundex(name: str) -> str:
    """American Soundex of a normalised name (letters and spaces)."""
    letters = name.replace(" ", "")
    if not letters:
        return ""
    out, last = letters[0], _SOUNDEX.get(letters[0], 0)
    for c in letters[1:]:
        code = _SOUNDEX.get(c, 0)
        if code and code != last:
            out += str(code)
        if c not in "HW":  # H and W do not separate letters with the same code
            last = code
    return (out + "000")[:4]


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


@dataclass
class Encodings:
    """Encoded records: ids, packed filters (rows of uint64 words) and blocking keys."""

    ids: list[str]
    packed: np.ndarray  # (n, words) uint64
    blocks: dict[str, list[str | None]]
    scheme: Scheme
    key_check: str
    source: str
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    checks: np.ndarray | None = None  # (n, check words) uint64 when the scheme has checks

    def __len__(self) -> int:
        return len(self.ids)

    def metadata(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "source": self.source,
            "created": self.created,
            "records": len(self.ids),
            "key_check": self.key_check,
            "encoding": "base64 of the filter's bytes, big-endian bit order",
            "scheme": self.scheme.to_dict(),
        }


def read_identifiers(
    path: Path,
    scheme: Scheme,
    column_map: dict[str, str] | None = None,
    id_column: str = "record_id",
) -> tuple[list[str], dict[str, list[str | None]]]:
    """Read a partner's CSV: the record id and, per scheme field, normalised values.

    `column_map` maps a scheme field to the CSV column holding it (default: same name).
    Errors name the file, the row (1 = the header line) and the field.
    """
    column_map = dict(column_map or {})
    unknown = sorted(set(column_map) - {f.name for f in scheme.fields})
    if unknown:
        raise PprlError(
            f"column map names field(s) not in the scheme: {', '.join(unknown)}; "
            f"scheme fields: {', '.join(f.name for f in scheme.fields)}"
        )
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115
    except OSError as exc:
        raise PprlError(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise PprlError(f"{path}: the file is empty; expected a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PprlError(f"{path}, row 1: cannot read the header ({exc})") from exc
        positions = {name: i for i, name in enumerate(header)}
        wanted = {f.name: column_map.get(f.name, f.name) for f in scheme.fields}
        if id_column not in positions:
            raise PprlError(
                f"{path}: record id column {id_column!r} not in the header "
                f"({', '.join(header)}); name the id column (--id-column)"
            )
        missing = [c for c in wanted.values() if c not in positions]
        if missing:
            raise PprlError(
                f"{path}: column(s) {', '.join(missing)} not in the header "
                f"({', '.join(header)}); map scheme fields to columns with --map FIELD=COLUMN"
            )
        id_pos = positions[id_column]
        specs = [(f, positions[wanted[f.name]], wanted[f.name]) for f in scheme.fields]
        ids: list[str] = []
        values: dict[str, list[str | None]] = {f.name: [] for f in scheme.fields}
        seen: dict[str, int] = {}
        row_number = 1
        try:
            for row_number, row in enumerate(reader, start=2):
                if len(row) != len(header):
                    raise PprlError(
                        f"{path}, row {row_number}: {len(row)} values, the header has {len(header)}"
                    )
                record_id = row[id_pos].strip()
                if not record_id:
                    raise PprlError(f"{path}, row {row_number}, field {id_column}: blank record id")
                if record_id in seen:
                    raise PprlError(
                        f"{path}, row {row_number}, field {id_column}: record id {record_id!r} "
                        f"already on row {seen[record_id]}"
                    )
                seen[record_id] = row_number
                ids.append(record_id)
                for spec, pos, column in specs:
                    try:
                        values[spec.name].append(normalise(spec.kind, row[pos]))
                    except ValueError as exc:
                        raise PprlError(f"{path}, row {row_number}, field {column}: {exc}") from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise PprlError(f"{path}, row {row_number + 1}: cannot read ({exc})") from exc
    return ids, values


def _salts(scheme: Scheme, values: dict[str, list[str | None]], n: int) -> list[str]:
    if scheme.salt is None:
        return [""] * n
    raw = values[scheme.salt.field]
    if scheme.salt.part == "year":
        return [v[:4] if v else "" for v in raw]
    return [v or "" for v in raw]


def keyed_positions(
    keys: Sequence[bytes], messages: Sequence[bytes], k: int, bits: int
) -> np.ndarray:
    """k bit positions per message, each from 16 bits of HMAC-SHA256(keys[block], message).

    Independent keyed positions ("random hashing"), not double hashing: double hashing's
    linear structure is what the Kroll-Steinmetzer attack exploits. One HMAC gives 16
    positions; more need the next block key.
    """
    blocks = (k + 15) // 16
    digest = hmac.digest
    out = np.empty((len(messages), blocks * 16), dtype=np.uint16)
    for b in range(blocks):
        key = keys[b]
        raw = b"".join([digest(key, m, "sha256") for m in messages])
        out[:, b * 16 : (b + 1) * 16] = np.frombuffer(raw, dtype="<u2").reshape(-1, 16)
    return (out[:, :k] & np.uint16(bits - 1)).astype(np.int64)


def encode(
    scheme: Scheme,
    secret: bytes,
    values: dict[str, list[str | None]],
    ids: Sequence[str],
    source: str = "",
    flip_random: Any = None,
) -> Encodings:
    """Encode normalised values (as from read_identifiers) into hardened Bloom filters.

    `flip_random(nbytes) -> bytes` supplies the randomness of bit flipping; default
    os.urandom (a CSPRNG: flips that could be predicted could be undone).
    """
    n = len(ids)
    bits = scheme.bits
    salts = _salts(scheme, values, n)
    salted = scheme.salt is not None
    fields = []
    for spec in scheme.fields:
        if spec.k == 0:
            continue  # read for a check, a blocking key or the salt only
        keys = [
            derive_key(secret, f"field {spec.name} block {b}") for b in range((spec.k + 15) // 16)
        ]
        column = values[spec.name]
        # Work per distinct (salt, value), then per distinct q-gram message: names, towns and
        # years repeat, so each HMAC is computed once per file, not once per record.
        distinct = (
            [None if v is None else (salt, v) for salt, v in zip(salts, column, strict=True)]
            if salted
            else column
        )
        value_index: dict[Any, int] = {}
        setvalue = value_index.setdefault
        codes = np.fromiter(
            (-1 if v is None else setvalue(v, len(value_index)) for v in distinct),
            dtype=np.int64,
            count=n,
        )
        gram_index: dict[bytes, int] = {}
        setgram = gram_index.setdefault
        value_grams: list[list[int]] = []
        for item in value_index:
            if salted:
                # The salt is part of every hashed message: the same q-gram sets unrelated
                # bits in records with different salt values.
                prefix = item[0].encode() + b"\x1f"
                grams = [prefix + g for g in gram_bytes(spec.kind, item[1].encode(), spec.q)]
            else:
                grams = gram_bytes(spec.kind, item.encode(), spec.q)
            value_grams.append([setgram(g, len(gram_index)) for g in grams])
        if not gram_index:
            continue
        # The q-grams of each distinct value, flattened (CSR: lengths, starts, flat).
        lengths = np.fromiter((len(g) for g in value_grams), dtype=np.int64, count=len(value_grams))
        flat = np.fromiter(
            (g for grams in value_grams for g in grams), dtype=np.int64, count=int(lengths.sum())
        )
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        positions = keyed_positions(keys, list(gram_index), spec.k, bits)
        fields.append((codes, lengths, starts, flat, positions))

    if scheme.balance:
        # Balanced Bloom filters (Berger et al.): the filter and its complement, columns
        # permuted by a keyed permutation, so every encoding has exactly `bits` ones.
        seed = int.from_bytes(derive_key(secret, "balance permutation"), "big")
        permutation = np.random.default_rng(seed).permutation(2 * bits)
    packed = np.empty((n, scheme.output_bits // 64), dtype=np.uint64)
    # Set bits a block of records at a time: memory stays bounded whatever the file size.
    for lo in range(0, n, ENCODE_CHUNK):
        hi = min(n, lo + ENCODE_CHUNK)
        filters = np.zeros((hi - lo, bits), dtype=np.bool_)
        flat_filters = filters.reshape(-1)
        for codes, lengths, starts, flat, positions in fields:
            chunk = codes[lo:hi]
            present = np.flatnonzero(chunk >= 0)
            per_record = lengths[chunk[present]]
            records = np.repeat(present, per_record)
            offsets = np.arange(int(per_record.sum())) - np.repeat(
                np.cumsum(per_record) - per_record, per_record
            )
            grams = flat[np.repeat(starts[chunk[present]], per_record) + offsets]
            flat_filters[(records * bits)[:, None] + positions[grams]] = True
        if scheme.balance:
            filters = np.concatenate((filters, ~filters), axis=1)[:, permutation]
        packed[lo:hi] = pack(filters)
    if scheme.blip > 0:
        packed ^= flip_mask(packed.shape, scheme.blip, flip_random or os.urandom)
    blocks = blocking_keys(scheme, secret, values)
    checks = None
    if scheme.checks:
        from civicshare.linkage.pprl.checks import encode_checks

        checks = encode_checks(scheme, secret, values, salts if salted else [""] * n)
    return Encodings(
        ids=list(ids),
        packed=packed,
        blocks=blocks,
        scheme=scheme,
        key_check=key_check(secret),
        source=source,
        checks=checks,
    )


def pack(filters: np.ndarray) -> np.ndarray:
    """Bool (n, bits) to (n, bits/64) uint64 words, bytes in big-endian bit order."""
    return np.ascontiguousarray(np.packbits(filters, axis=1)).view(np.uint64)


def unpack(packed: np.ndarray, dtype: Any = np.bool_) -> np.ndarray:
    return np.unpackbits(packed.view(np.uint8), axis=1).astype(dtype, copy=False)


def flip_mask(shape: tuple[int, int], probability: float, random_bytes: Any) -> np.ndarray:
    """Words with each bit set independently with `probability` (to 1/65536)."""
    n, words = shape
    count = n * words * 64
    draws = np.frombuffer(random_bytes(2 * count), dtype="<u2").reshape(n, words * 64)
    return pack(draws < round(probability * 65536))


def blocking_keys(
    scheme: Scheme, secret: bytes, values: dict[str, list[str | None]]
) -> dict[str, list[str | None]]:
    """Per blocking key, a keyed hash (hex) of the transformed value, or None when blank.

    The gateway sees only which records share a key, never the soundex code or year itself.
    """
    out: dict[str, list[str | None]] = {}
    for spec in scheme.blocking:
        key = derive_key(secret, f"blocking {spec.name}")
        column = values[spec.field]
        cache: dict[str, str | None] = {}
        keys: list[str | None] = []
        for value in column:
            if value is None:
                keys.append(None)
                continue
            if value not in cache:
                if spec.transform == "soundex":
                    plain = soundex(value)
                elif spec.transform == "year":
                    plain = value[:4]
                else:
                    plain = value
                if not plain:
                    cache[value] = None
                else:
                    tag = int.from_bytes(hmac.digest(key, plain.encode(), "sha256")[:8], "big")
                    if spec.bucket_bits is not None and spec.bucket_bits < 64:
                        tag >>= 64 - spec.bucket_bits
                    cache[value] = f"{tag:016x}"
            keys.append(cache[value])
        out[spec.name] = keys
    return out
