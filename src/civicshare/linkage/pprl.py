"""Privacy-preserving record linkage (PPRL) with hardened Bloom-filter encodings.

Partners encode identifiers locally into record-level Bloom filters (cryptographic long-term
keys, CLKs): every q-gram of every field is hashed with a field key derived from a secret the
gateway never holds, optionally salted by a stable attribute (year of birth), and sets `k`
bit positions in one filter of `bits` bits. Optional hardening: balancing (filter plus its
complement, permuted by a keyed permutation) and random bit flipping (BLIP). Each record also
carries keyed blocking keys. The gateway reads two encoding files, compares the records that
share a blocking key by Dice similarity, keeps pairs at or above a threshold and resolves them
one-to-one.

This module is the logic only; `pprl_cli.py` is the command line over it. Design and
limits: docs/pprl.md and docs/decisions/0010-pprl.md.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from civicshare import csvsafe

FORMAT_NAME = "civicshare-pprl"
FORMAT_VERSION = 1
SECRET_BYTES = 32
FIELD_KINDS = ("name", "text", "digits", "date", "postcode", "exact")
SALT_PARTS = ("year", "value")
BLOCKING_TRANSFORMS = ("soundex", "year", "exact")
SOLVERS = ("greedy", "optimal")
MAX_HASHES = 64  # positions per q-gram; four HMAC-SHA256 blocks
ENCODE_CHUNK = 1 << 14  # records whose filters are built at once


class PprlError(ValueError):
    """A problem with a scheme, a secret, an input file or an encoding file, said plainly."""


# --------------------------------------------------------------------------------------------
# Scheme: the parameters both partners must share (never the secret)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str = "text"
    q: int = 2
    k: int = 10  # bit positions per q-gram: the field's weight in the filter


@dataclass(frozen=True)
class SaltSpec:
    field: str
    part: str = "year"  # `year`: first four digits of a date; `value`: the whole value


@dataclass(frozen=True)
class BlockingSpec:
    name: str
    field: str
    transform: str = "exact"
    bucket_bits: int | None = None  # keep only this many bits of the keyed hash (merge blocks)


@dataclass(frozen=True)
class Scheme:
    bits: int
    fields: tuple[FieldSpec, ...]
    salt: SaltSpec | None = None
    balance: bool = False
    blip: float = 0.0  # probability that each output bit is flipped
    blocking: tuple[BlockingSpec, ...] = ()

    @property
    def output_bits(self) -> int:
        return self.bits * 2 if self.balance else self.bits

    def to_dict(self) -> dict[str, Any]:
        return {
            "bits": self.bits,
            "fields": [{"name": f.name, "kind": f.kind, "q": f.q, "k": f.k} for f in self.fields],
            "salt": None
            if self.salt is None
            else {"field": self.salt.field, "part": self.salt.part},
            "balance": self.balance,
            "blip": self.blip,
            "blocking": [
                {
                    "name": b.name,
                    "field": b.field,
                    "transform": b.transform,
                    "bucket_bits": b.bucket_bits,
                }
                for b in self.blocking
            ],
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "scheme") -> Scheme:
        return _parse_scheme(data, where)


def _parse_scheme(data: Any, where: str) -> Scheme:
    def fail(message: str) -> PprlError:
        return PprlError(f"{where}: {message}")

    if not isinstance(data, dict):
        raise fail("expected a mapping with `bits` and `fields`")
    known = {"bits", "fields", "salt", "balance", "blip", "blocking"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise fail(f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    bits = data.get("bits", 1024)
    if not isinstance(bits, int) or bits < 64 or bits > 65536 or bits & (bits - 1):
        raise fail(f"bits must be a power of two from 64 to 65536, got {bits!r}")
    raw_fields = data.get("fields")
    if not isinstance(raw_fields, list) or not raw_fields:
        raise fail("fields must be a non-empty list")
    fields: list[FieldSpec] = []
    for n, item in enumerate(raw_fields, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise fail(f"field {n} must be a mapping with a `name`")
        name = item["name"]
        extra = sorted(set(item) - {"name", "kind", "q", "k"})
        if extra:
            raise fail(f"field {name!r}: unknown setting(s) {', '.join(extra)}")
        kind = item.get("kind", "text")
        if kind not in FIELD_KINDS:
            raise fail(f"field {name!r}: kind must be one of {', '.join(FIELD_KINDS)}")
        q, k = item.get("q", 2), item.get("k", 10)
        if not isinstance(q, int) or not 1 <= q <= 5:
            raise fail(f"field {name!r}: q must be an integer from 1 to 5, got {q!r}")
        if not isinstance(k, int) or not 1 <= k <= MAX_HASHES:
            raise fail(f"field {name!r}: k must be an integer from 1 to {MAX_HASHES}, got {k!r}")
        if any(f.name == name for f in fields):
            raise fail(f"field {name!r} appears twice")
        fields.append(FieldSpec(name=name, kind=kind, q=q, k=k))
    names = {f.name for f in fields}

    salt = None
    if data.get("salt") is not None:
        raw = data["salt"]
        if not isinstance(raw, dict) or raw.get("field") not in names:
            raise fail("salt must be a mapping whose `field` is one of the fields")
        part = raw.get("part", "year")
        if part not in SALT_PARTS:
            raise fail(f"salt part must be one of {', '.join(SALT_PARTS)}, got {part!r}")
        salt = SaltSpec(field=raw["field"], part=part)

    balance = data.get("balance", False)
    if not isinstance(balance, bool):
        raise fail("balance must be true or false")
    blip = data.get("blip", 0.0)
    if not isinstance(blip, int | float) or isinstance(blip, bool) or not 0.0 <= blip < 0.5:
        raise fail(f"blip must be a probability from 0 up to (not including) 0.5, got {blip!r}")

    blocking: list[BlockingSpec] = []
    for n, item in enumerate(data.get("blocking") or [], start=1):
        if not isinstance(item, dict) or item.get("field") not in names:
            raise fail(f"blocking key {n} must be a mapping whose `field` is one of the fields")
        transform = item.get("transform", "exact")
        if transform not in BLOCKING_TRANSFORMS:
            raise fail(
                f"blocking key {n}: transform must be one of {', '.join(BLOCKING_TRANSFORMS)}"
            )
        bucket_bits = item.get("bucket_bits")
        if bucket_bits is not None and (
            not isinstance(bucket_bits, int) or not 4 <= bucket_bits <= 64
        ):
            raise fail(f"blocking key {n}: bucket_bits must be an integer from 4 to 64")
        name = item.get("name") or f"{transform}_{item['field']}"
        if any(b.name == name for b in blocking):
            raise fail(f"blocking key {name!r} appears twice")
        blocking.append(BlockingSpec(name, item["field"], transform, bucket_bits))

    return Scheme(
        bits=bits,
        fields=tuple(fields),
        salt=salt,
        balance=balance,
        blip=float(blip),
        blocking=tuple(blocking),
    )


def load_scheme(path: Path) -> Scheme:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PprlError(f"{path}: cannot read the scheme ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise PprlError(f"{path}: not valid YAML ({exc})") from exc
    return _parse_scheme(data, str(path))


# --------------------------------------------------------------------------------------------
# The secret and the keys derived from it
# --------------------------------------------------------------------------------------------


def generate_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def write_secret(path: Path, secret: bytes) -> None:
    """Write the secret as hex, readable by its owner only; never overwrite a key."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex() + "\n")


def read_secret(path: Path) -> bytes:
    """A key file: 64 hex digits (as written by `pprl keygen` or `openssl rand -hex 32`)."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except OSError as exc:
        raise PprlError(f"{path}: cannot read the secret ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise PprlError(f"{path}: the secret must be 64 hex digits") from exc
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raise PprlError(
            f"{path}: the secret must be 64 hex digits (32 random bytes), "
            "as written by `civicshare pprl keygen` or `openssl rand -hex 32`"
        )
    return bytes.fromhex(text)


def _derive(secret: bytes, purpose: str) -> bytes:
    # One subkey per purpose, so a key used for one field never hashes another's q-grams.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"{FORMAT_NAME} v1 {purpose}".encode()
    ).derive(secret)


def key_check(secret: bytes) -> str:
    """A short keyed value that shows two files were made with the same secret.

    It is an HMAC of a constant under a derived key: it reveals nothing about the secret,
    and lets the gateway refuse files encoded under different secrets with a clear message.
    """
    return hmac.digest(_derive(secret, "key check"), b"key check", "sha256")[:8].hex()


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
    return [g.decode("ascii") for g in _grams(kind, text.encode("ascii"), q)]


def _grams(kind: str, data: bytes, q: int) -> list[bytes]:
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


def _positions_for(
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
        keys = [_derive(secret, f"field {spec.name} block {b}") for b in range((spec.k + 15) // 16)]
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
                grams = [prefix + g for g in _grams(spec.kind, item[1].encode(), spec.q)]
            else:
                grams = _grams(spec.kind, item.encode(), spec.q)
            value_grams.append([setgram(g, len(gram_index)) for g in grams])
        if not gram_index:
            continue
        # The q-grams of each distinct value, flattened (CSR: lengths, starts, flat).
        lengths = np.fromiter((len(g) for g in value_grams), dtype=np.int64, count=len(value_grams))
        flat = np.fromiter(
            (g for grams in value_grams for g in grams), dtype=np.int64, count=int(lengths.sum())
        )
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        positions = _positions_for(keys, list(gram_index), spec.k, bits)
        fields.append((codes, lengths, starts, flat, positions))

    if scheme.balance:
        # Balanced Bloom filters (Berger et al.): the filter and its complement, columns
        # permuted by a keyed permutation, so every encoding has exactly `bits` ones.
        seed = int.from_bytes(_derive(secret, "balance permutation"), "big")
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
    return Encodings(
        ids=list(ids),
        packed=packed,
        blocks=blocks,
        scheme=scheme,
        key_check=key_check(secret),
        source=source,
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
        key = _derive(secret, f"blocking {spec.name}")
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


# --------------------------------------------------------------------------------------------
# Encoding files: one JSON metadata line, then one JSON line per record
# --------------------------------------------------------------------------------------------


def write_encodings(path: Path, encodings: Encodings) -> None:
    names = [b.name for b in encodings.scheme.blocking]
    raw = encodings.packed.view(np.uint8)
    tmp = Path(f"{path}.partial")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(encodings.metadata(), sort_keys=True) + "\n")
        for r, record_id in enumerate(encodings.ids):
            line = {"id": record_id, "clk": base64.b64encode(raw[r].tobytes()).decode("ascii")}
            if names:
                line["blocks"] = [encodings.blocks[name][r] for name in names]
            handle.write(json.dumps(line) + "\n")
    os.replace(tmp, path)


def read_encodings(path: Path) -> Encodings:
    path = Path(path)
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise PprlError(f"{path}: cannot read ({exc.strerror})") from exc
    with handle:
        first = handle.readline()
        try:
            meta = json.loads(first)
        except json.JSONDecodeError:
            meta = None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
            raise PprlError(
                f"{path}, line 1: not a civicshare PPRL encoding file "
                "(written by `civicshare pprl encode`)"
            )
        if meta.get("version") != FORMAT_VERSION:
            raise PprlError(
                f"{path}, line 1: encoding format version {meta.get('version')!r}; "
                f"this gateway reads version {FORMAT_VERSION}"
            )
        scheme = _parse_scheme(meta.get("scheme"), f"{path}, line 1, scheme")
        names = [b.name for b in scheme.blocking]
        nbytes = scheme.output_bits // 8
        ids: list[str] = []
        clks: list[str] = []
        blocks: dict[str, list[str | None]] = {name: [] for name in names}
        seen: set[str] = set()
        for line_number, line in enumerate(handle, start=2):
            try:
                record = json.loads(line)
                record_id = record["id"]
                clk = record["clk"]
                keys = record.get("blocks", [])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise PprlError(
                    f"{path}, line {line_number}: expected a JSON record with `id` and `clk`"
                ) from exc
            if not isinstance(record_id, str) or record_id in seen:
                raise PprlError(
                    f"{path}, line {line_number}, field id: missing or repeated record id"
                )
            if not isinstance(clk, str) or len(clk) != 4 * ((nbytes + 2) // 3):
                raise PprlError(
                    f"{path}, line {line_number}, field clk: not a base64 encoding of "
                    f"{scheme.output_bits} bits"
                )
            if not isinstance(keys, list) or len(keys) != len(names):
                raise PprlError(
                    f"{path}, line {line_number}, field blocks: expected {len(names)} "
                    f"blocking keys ({', '.join(names) or 'none'})"
                )
            seen.add(record_id)
            ids.append(record_id)
            clks.append(clk)
            for name, value in zip(names, keys, strict=True):
                blocks[name].append(value)
    decode = base64.b64decode
    try:
        raw = b"".join([decode(clk, validate=True) for clk in clks])
    except ValueError:
        bad = next(n for n, clk in enumerate(clks) if not _is_base64(clk))
        raise PprlError(f"{path}, line {bad + 2}, field clk: not valid base64") from None
    if len(raw) != nbytes * len(ids):
        raise PprlError(f"{path}: a `clk` field does not hold {scheme.output_bits} bits")
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(len(ids), nbytes).view(np.uint64).copy()
    if meta.get("records") not in (None, len(ids)):
        raise PprlError(
            f"{path}: the header says {meta['records']} records, the file holds {len(ids)} "
            "(truncated?)"
        )
    return Encodings(
        ids=ids,
        packed=packed,
        blocks=blocks,
        scheme=scheme,
        key_check=str(meta.get("key_check", "")),
        source=str(meta.get("source", "")),
        created=str(meta.get("created", "")),
    )


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


def scheme_fingerprint(scheme: Scheme) -> str:
    """SHA-256 (hex) of the scheme's canonical JSON: names a scheme in reports and audit
    records without repeating it; equal for two files exactly when check_compatible would
    accept their schemes."""
    text = json.dumps(scheme.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def check_compatible(a: Encodings, b: Encodings, name_a: str = "A", name_b: str = "B") -> None:
    """Refuse to compare encodings made under different schemes or secrets."""
    da, db = a.scheme.to_dict(), b.scheme.to_dict()
    differing = [k for k in da if da[k] != db[k]]
    if differing:
        detail = "; ".join(
            f"{k}: {json.dumps(da[k])} in {name_a} but {json.dumps(db[k])} in {name_b}"
            for k in differing
        )
        raise PprlError(
            f"{name_a} and {name_b} were encoded with different schemes, so their encodings "
            f"cannot be compared ({detail}). Both partners must encode with the same scheme file."
        )
    if a.key_check != b.key_check:
        raise PprlError(
            f"{name_a} and {name_b} were encoded with different secrets (key check "
            f"{a.key_check} and {b.key_check}), so their encodings cannot be compared. "
            "Both partners must use the same secret file."
        )


# --------------------------------------------------------------------------------------------
# Dice similarity
# --------------------------------------------------------------------------------------------


def popcounts(packed: np.ndarray) -> np.ndarray:
    return np.bitwise_count(packed).sum(axis=1, dtype=np.int64)


def dice_reference(a: np.ndarray, b: np.ndarray) -> float:
    """Dice of two packed filters, the plain way (for tests and baselines)."""
    total = int(np.bitwise_count(a).sum()) + int(np.bitwise_count(b).sum())
    return 0.0 if total == 0 else 2.0 * int(np.bitwise_count(a & b).sum()) / total


def dice_above(
    a: np.ndarray,
    b: np.ndarray,
    threshold: float,
    tile_a: int = 1024,
    tile_b: int = 8192,
    prefix_bits: int | None = None,
    stats: dict[str, int] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j) of rows of a and b with Dice >= threshold, with its Dice, exactly.

    Returns (i, j, dice) sorted by i then j; a pair is kept exactly when
    `2.0 * |a&b| / (|a| + |b|) >= threshold` in float64 (0 for two empty filters), the same
    test as `dice_reference`. Every other pair is decided below the threshold by one of two
    bounds, both exact (they never drop a pair that reaches the threshold):

    1. Popcounts. Dice(a, b) <= 2 min(|a|, |b|) / (|a| + |b|), so a row of a with |a| bits can
       only reach t against rows of b with t|a|/(2-t) <= |b| <= (2-t)|a|/t. Both sides are
       sorted by popcount; for each tile of a, the columns of b outside that band are never
       multiplied (anonlink's filter). It excludes little when popcounts vary less than the
       band is wide (at t = 0.75 the band is 0.6|a| to 1.67|a|).
    2. A prefix of the bits. With m = the common bits among the first K bits and r the bits
       set after them, |a&b| <= m + min(r_a, r_b) <= m + (r_a + r_b)/2, so Dice >= t needs
       m - (t|a| - r_a)/2 - (t|b| - r_b)/2 >= 0. Rows of a become the float32 rows
       [first K bits..., -(t|a| - r_a)/2, 1] and rows of b [first K bits..., 1,
       -(t|b| - r_b)/2], so one matrix product (BLAS, all cores) gives that margin for a whole
       tile. For the few pairs whose margin is not negative, m is read back exactly from the
       margin, the tighter m + min(r_a, r_b) is tested, and the words after the first K of
       the pairs still in are popcounted from the packed filters: their count is exact.
       K = all the bits is the plain product (the margin is then the exact count). K is
       chosen per call from a sample of pairs (`prefix_bits` fixes it: a multiple of 64):
       the product costs in proportion to K, and a smaller K lets more pairs through to the
       exact count. On the benchmark's 1024-bit encodings at t = 0.75 it picks K = 448 and
       counts about 0.15 % of pairs exactly; at t = 0.5 it needs K = 896 and gains little.

    The margin has float32 rounding (below 0.001: the counts themselves are exact integers in
    float32), so pairs are let through at a margin of -0.01 or more: the bound only ever lets
    more pairs through to the exact count, never fewer. `stats`, when given, receives the
    number of pairs (`pairs`), those excluded by the popcount band (`popcount_excluded`),
    multiplied (`product`), of these excluded by the prefix bound (`prefix_excluded`) and
    counted exactly (`exact`), the pairs found (`found`) and K (`prefix_bits`).
    """
    na, nb = len(a), len(b)
    words = a.shape[1]
    bits = words * 64
    count_a, count_b = popcounts(a), popcounts(b)
    # Sorted by popcount, so the rows of b that one tile of a can reach form one run.
    order_a = np.argsort(count_a, kind="stable")
    order_b = np.argsort(count_b, kind="stable")
    sa, sb = a[order_a], b[order_b]
    ca, cb = count_a[order_a], count_b[order_b]
    if prefix_bits is None:
        prefix_bits = _choose_prefix_bits(sa, sb, ca, cb, threshold)
    if prefix_bits % 64 or not 64 <= prefix_bits <= bits:
        raise ValueError(f"prefix_bits must be a multiple of 64 from 64 to {bits}")
    k = prefix_bits
    rest_a = ca - popcounts(sa[:, : k // 64])
    rest_b = cb - popcounts(sb[:, : k // 64])
    margin_a = -(threshold * ca - rest_a) / 2
    margin_b = -(threshold * cb - rest_b) / 2
    tile_a, tile_b = max(1, min(tile_a, na)), max(1, min(tile_b, nb))
    low, high = _popcount_band(ca, cb, threshold, tile_a)
    product_buffer = np.empty(tile_a * tile_b, dtype=np.float32)
    passed_buffer = np.empty(tile_a * tile_b, dtype=np.bool_)
    # The a tiles, unpacked once when they fit in 256 MiB, else again for each tile of b.
    keep_tiles = na * (k + 2) * 4 <= 1 << 28
    tiles_a: dict[int, np.ndarray] = {}
    found_i, found_j, found_s = [], [], []
    multiplied = exact = 0
    for j0 in range(0, nb, tile_b):
        j1 = min(nb, j0 + tile_b)
        bt = _augmented(sb[j0:j1], k, 1.0, margin_b[j0:j1])
        for x, i0 in enumerate(range(0, na, tile_a)):
            # Only the columns of this b tile inside the a tile's popcount band.
            c0, c1 = max(j0, int(low[x])), min(j1, int(high[x]))
            if c0 >= c1:
                continue
            at = tiles_a.get(x)
            if at is None:
                at = _augmented(sa[i0 : i0 + tile_a], k, margin_a[i0 : i0 + tile_a], 1.0)
                if keep_tiles:
                    tiles_a[x] = at
            rows, cols = len(at), c1 - c0
            product = product_buffer[: rows * cols].reshape(rows, cols)
            np.matmul(at, bt[c0 - j0 : c1 - j0].T, out=product)
            multiplied += rows * cols
            passed = passed_buffer[: rows * cols]
            np.greater_equal(product.reshape(-1), -0.01, out=passed)
            flat = np.flatnonzero(passed)
            if not len(flat):
                continue
            # The common bits among the first K, exactly: the margin less its two constants.
            x_a, x_b = flat // cols, flat % cols + (c0 - j0)
            common = np.rint(
                product.reshape(-1)[flat].astype(np.float64)
                - at[x_a, k].astype(np.float64)
                - bt[x_b, k + 1].astype(np.float64)
            ).astype(np.int64)
            ii, jj = x_a + i0, x_b + j0
            total = ca[ii] + cb[jj]
            if k < bits:
                # The tighter bound |a&b| <= common + min(r_a, r_b), then the last words.
                bound = 2 * (common + np.minimum(rest_a[ii], rest_b[jj]))
                near = np.flatnonzero(bound >= threshold * total * (1 - 1e-12) - 1e-9)
                ii, jj, common, total = ii[near], jj[near], common[near], total[near]
                common += _common_bits(sa, sb, ii, jj, k // 64)
            exact += len(ii)
            score = 2.0 * common / np.maximum(total, 1)
            keep = score >= threshold
            found_i.append(order_a[ii[keep]])
            found_j.append(order_b[jj[keep]])
            found_s.append(score[keep])
    if found_i:
        i, j, s = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
        order = np.lexsort((j, i))
        i, j, s = i[order].astype(np.int64), j[order].astype(np.int64), s[order]
    else:
        i = j = np.empty(0, dtype=np.int64)
        s = np.empty(0, dtype=np.float64)
    if stats is not None:
        stats.update(
            pairs=na * nb,
            popcount_excluded=na * nb - multiplied,
            product=multiplied,
            prefix_excluded=multiplied - exact,
            exact=exact,
            found=len(i),
            prefix_bits=k,
        )
    return i, j, s


def _popcount_band(
    ca: np.ndarray, cb: np.ndarray, threshold: float, tile_a: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per tile of (popcount-sorted) a, the run [low, high) of sorted b it can reach.

    A pair can reach t only if 2 min(|a|, |b|) >= t (|a| + |b|): t|a|/(2-t) <= |b| and, for
    t > 0, |b| <= (2-t)|a|/t. A relative slack of 1e-9 keeps the band exact under rounding.
    """
    firsts = ca[::tile_a].astype(np.float64)
    lasts = ca[np.minimum(np.arange(len(firsts)) * tile_a + tile_a, len(ca)) - 1]
    t = threshold
    low_count = firsts * t / (2 - t) * (1 - 1e-9) if t < 2 else firsts
    low = np.searchsorted(cb, low_count, side="left")
    if t <= 0:
        high = np.full(len(firsts), len(cb))
    else:
        high = np.searchsorted(cb, lasts * (2 - t) / t * (1 + 1e-9), side="right")
    return low, high


# What one pair through each step costs, in bits of the matrix product per pair (measured on
# the development machine, where the product runs at about 0.009 ns per bit per pair): taking
# a pair past the first bound and testing the second (~25 ns), and counting its last words
# exactly (~170 ns). Calibrated by timing K against K in turn: at t = 0.75 they choose
# K = 448 (1.9 x the full product), at t = 0.5 K = 896 (~1.1 x; K = 768 was no faster).
SECOND_BOUND_COST_BITS = 3_000
RECOUNT_COST_BITS = 20_000
# Below this many pairs the product runs over all the bits (choosing K would cost more).
CHOOSE_MIN_PAIRS = 1 << 22


def _choose_prefix_bits(
    sa: np.ndarray, sb: np.ndarray, ca: np.ndarray, cb: np.ndarray, threshold: float,
    sample: int = 256,
) -> int:  # fmt: skip
    """The K with the least estimated cost per pair: the product's K + 2 columns, plus the
    share of pairs passing the first bound times SECOND_BOUND_COST_BITS, plus the share
    passing the second times RECOUNT_COST_BITS.

    Measured on a fixed sample of up to `sample` rows of each side, one 64-bit word at a
    time (a few milliseconds). The choice only changes the speed, never the result.
    """
    words = sa.shape[1]
    if len(sa) * len(sb) < CHOOSE_MIN_PAIRS:
        return words * 64  # too few pairs for the choice to matter
    pick = np.random.default_rng(0)
    xa = np.sort(pick.choice(len(sa), min(sample, len(sa)), replace=False))
    xb = np.sort(pick.choice(len(sb), min(sample, len(sb)), replace=False))
    bits_a, bits_b = unpack(sa[xa], np.float32), unpack(sb[xb], np.float32)
    # Bits set after each word, per sampled row.
    rest_a = (ca[xa][:, None] - np.cumsum(np.bitwise_count(sa[xa]), axis=1)).astype(np.float32)
    rest_b = (cb[xb][:, None] - np.cumsum(np.bitwise_count(sb[xb]), axis=1)).astype(np.float32)
    need = (threshold * (ca[xa][:, None] + cb[xb][None, :]) - 0.02).astype(np.float32)
    common = np.zeros(need.shape, dtype=np.float32)
    best_k, best_cost = words * 64, float("inf")
    for w in range(words - 1):
        cut = slice(w * 64, (w + 1) * 64)
        common += bits_a[:, cut] @ bits_b[:, cut].T
        first = 2 * common + rest_a[:, w, None] + rest_b[None, :, w] >= need
        second = 2 * (common + np.minimum(rest_a[:, w, None], rest_b[None, :, w])) >= need
        k = (w + 1) * 64
        cost = (
            k + 2 + SECOND_BOUND_COST_BITS * np.count_nonzero(first) / first.size
            + RECOUNT_COST_BITS * np.count_nonzero(first & second) / first.size
        )  # fmt: skip
        if cost < best_cost:
            best_k, best_cost = k, cost
    return best_k if best_cost < words * 64 + 2 else words * 64


def _common_bits(
    a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, first_word: int = 0,
    chunk: int = 1 << 16,
) -> np.ndarray:  # fmt: skip
    """|a_i & b_j| over the words from `first_word` on, for each listed pair."""
    out = np.empty(len(i), dtype=np.int64)
    for s in range(0, len(i), chunk):
        ii, jj = i[s : s + chunk], j[s : s + chunk]
        both = a[ii, first_word:] & b[jj, first_word:]
        out[s : s + chunk] = np.bitwise_count(both).sum(axis=1, dtype=np.int64)
    return out


def _augmented(packed: np.ndarray, k: int, first: Any, second: Any) -> np.ndarray:
    """The first k bits of each row as 0/1 float32, then two columns (scalar or per row)."""
    out = np.empty((len(packed), k + 2), dtype=np.float32)
    out[:, :k] = np.unpackbits(packed.view(np.uint8)[:, : k // 8], axis=1)
    out[:, k] = first
    out[:, k + 1] = second
    return out


# Blocks with more pairs than this go to the matrix-product path; smaller ones are gathered.
LARGE_BLOCK_PAIRS = 1 << 18
PAIRS_PER_CHUNK = 1 << 22


@dataclass
class Candidates:
    i: np.ndarray
    j: np.ndarray
    dice: np.ndarray
    comparisons: int


def _block_codes(keys_a: Sequence[str | None], keys_b: Sequence[str | None]):
    """Integer codes for blocking keys shared by both sides (-1: blank or only on one side)."""
    codes: dict[str, int] = {}
    setcode = codes.setdefault
    code_a = np.fromiter(
        (-1 if k is None else setcode(k, len(codes)) for k in keys_a), np.int64, len(keys_a)
    )
    code_b = np.fromiter(
        (-1 if k is None else codes.get(k, -1) for k in keys_b), np.int64, len(keys_b)
    )
    return code_a, code_b, len(codes)


def _pairs_in_blocks(
    code_a: np.ndarray, rows_a: np.ndarray, order_b: np.ndarray, start_b: np.ndarray,
    count_b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Every (i, j) with code_a[i] == code_b[j] for the A rows given (a vectorised join).

    order_b sorts B by code; start_b and count_b give each code's run in that order.
    """
    codes = code_a[rows_a]
    per_row = count_b[codes]
    i = np.repeat(rows_a, per_row)
    offsets = np.arange(int(per_row.sum())) - np.repeat(np.cumsum(per_row) - per_row, per_row)
    j = order_b[np.repeat(start_b[codes], per_row) + offsets]
    return i, j


def dice_of_pairs(
    a: np.ndarray,
    b: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    counts: tuple[np.ndarray, np.ndarray] | None = None,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """Dice of the listed pairs (rows i of a with rows j of b), popcounting packed words."""
    count_a, count_b = counts if counts is not None else (popcounts(a), popcounts(b))
    out = np.empty(len(i), dtype=np.float64)
    for s in range(0, len(i), chunk):
        ii, jj = i[s : s + chunk], j[s : s + chunk]
        common = np.bitwise_count(a[ii] & b[jj]).sum(axis=1, dtype=np.int64)
        total = count_a[ii] + count_b[jj]
        out[s : s + chunk] = 2.0 * common / np.maximum(total, 1)
    return out


def compare(a: Encodings, b: Encodings, threshold: float, blocking: str = "keys") -> Candidates:
    """Pairs at or above the threshold: within shared blocking keys, or all pairs (`none`).

    A pair is compared if the two records share any blocking key (the union of the keys, so
    an error in one field does not lose the pair). Per key, small blocks are gathered into
    one list of pairs compared word by word; large blocks are compared by matrix product,
    tile by tile. `comparisons` counts a pair once per key it shares.
    """
    if blocking == "none" or not a.scheme.blocking:
        i, j, s = dice_above(a.packed, b.packed, threshold)
        return Candidates(i, j, s, len(a) * len(b))
    if blocking != "keys":
        raise PprlError(f"blocking must be `keys` or `none`, got {blocking!r}")
    found_i, found_j, found_s = [], [], []
    comparisons = 0
    counts = popcounts(a.packed), popcounts(b.packed)
    for spec in a.scheme.blocking:
        code_a, code_b, size = _block_codes(a.blocks[spec.name], b.blocks[spec.name])
        count_a = np.bincount(code_a[code_a >= 0], minlength=size)
        count_b = np.bincount(code_b[code_b >= 0], minlength=size)
        block_pairs = count_a * count_b
        large = np.flatnonzero(block_pairs > LARGE_BLOCK_PAIRS)
        for code in large.tolist():
            rows_a = np.flatnonzero(code_a == code)
            rows_b = np.flatnonzero(code_b == code)
            comparisons += len(rows_a) * len(rows_b)
            i, j, s = dice_above(a.packed[rows_a], b.packed[rows_b], threshold)
            found_i.append(rows_a[i])
            found_j.append(rows_b[j])
            found_s.append(s)
        in_small = (code_a >= 0) & (block_pairs[np.maximum(code_a, 0)] <= LARGE_BLOCK_PAIRS)
        rows = np.flatnonzero(in_small)
        # A few million pairs at a time, so memory stays bounded on large files.
        reach = np.cumsum(count_b[code_a[rows]])
        cuts = np.searchsorted(reach, np.arange(PAIRS_PER_CHUNK, reach[-1] if len(reach) else 0,
                                                PAIRS_PER_CHUNK))  # fmt: skip
        order_b = np.argsort(code_b, kind="stable")
        start_b = np.searchsorted(code_b[order_b], np.arange(size))
        for chunk in np.split(rows, cuts):
            i, j = _pairs_in_blocks(code_a, chunk, order_b, start_b, count_b)
            comparisons += len(i)
            s = dice_of_pairs(a.packed, b.packed, i, j, counts)
            keep = s >= threshold
            found_i.append(i[keep])
            found_j.append(j[keep])
            found_s.append(s[keep])
    if not found_i:
        empty = np.empty(0, dtype=np.int64)
        return Candidates(empty, empty, np.empty(0), comparisons)
    i, j, s = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
    # A pair sharing several blocking keys was compared once per key (cheaper than removing
    # repeats from every candidate pair first): keep it once.
    pair_ids, first = np.unique(i * len(b) + j, return_index=True)
    return Candidates(i[first], j[first], s[first], comparisons)


# --------------------------------------------------------------------------------------------
# One-to-one
# --------------------------------------------------------------------------------------------


def solve_greedy(i: np.ndarray, j: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the pairs kept: best score first, each record used at most once.

    Ties break by record position, so the result does not depend on input order.
    """
    order = np.lexsort((j, i, -score))
    used_a: set[int] = set()
    used_b: set[int] = set()
    kept = []
    for p in order.tolist():
        x, y = int(i[p]), int(j[p])
        if x in used_a or y in used_b:
            continue
        used_a.add(x)
        used_b.add(y)
        kept.append(p)
    return np.asarray(sorted(kept), dtype=np.int64)


def solve_optimal(i: np.ndarray, j: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the pairs of a maximum-total-score matching, per connected component."""
    from scipy.optimize import linear_sum_assignment
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(i) == 0:
        return np.empty(0, dtype=np.int64)
    ua, ia = np.unique(i, return_inverse=True)
    ub, jb = np.unique(j, return_inverse=True)
    na = len(ua)
    graph = coo_matrix((np.ones(len(i)), (ia, na + jb)), shape=(na + len(ub),) * 2)
    _, labels = connected_components(graph, directed=False)
    component = labels[ia]
    order = np.argsort(component, kind="stable")
    bounds = np.flatnonzero(np.diff(component[order])) + 1
    kept = []
    for pairs in np.split(order, bounds):
        if len(pairs) == 1:
            kept.append(int(pairs[0]))
            continue
        rows, rinv = np.unique(ia[pairs], return_inverse=True)
        cols, cinv = np.unique(jb[pairs], return_inverse=True)
        # A missing edge weighs 0, so the assignment maximises the linked pairs' total Dice
        # (every real edge weighs at least the threshold) and a 0 cell means "unpaired". A
        # negative weight would make it pair as many records as possible first.
        weights = np.zeros((len(rows), len(cols)))
        weights[rinv, cinv] = score[pairs]
        where = np.full((len(rows), len(cols)), -1, dtype=np.int64)
        where[rinv, cinv] = pairs
        r, c2 = linear_sum_assignment(weights, maximize=True)
        chosen = where[r, c2]
        kept.extend(int(p) for p in chosen[chosen >= 0])
    return np.asarray(sorted(kept), dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Link
# --------------------------------------------------------------------------------------------


@dataclass
class LinkResult:
    a: Encodings
    b: Encodings
    i: np.ndarray
    j: np.ndarray
    dice: np.ndarray
    comparisons: int
    candidates: int
    threshold: float
    blocking: str
    solver: str
    seconds: float = 0.0

    def pairs(self) -> Iterable[tuple[str, str, float]]:
        for x, y, s in zip(self.i.tolist(), self.j.tolist(), self.dice.tolist(), strict=True):
            yield self.a.ids[x], self.b.ids[y], s


def link(
    a: Encodings,
    b: Encodings,
    threshold: float = 0.8,
    blocking: str = "keys",
    solver: str = "greedy",
) -> LinkResult:
    if not 0.0 < threshold <= 1.0:
        raise PprlError(f"threshold must be above 0 and at most 1, got {threshold}")
    if solver not in SOLVERS:
        raise PprlError(f"solver must be one of {', '.join(SOLVERS)}, got {solver!r}")
    check_compatible(a, b)
    started = time.perf_counter()
    found = compare(a, b, threshold, blocking)
    solve = solve_greedy if solver == "greedy" else solve_optimal
    kept = solve(found.i, found.j, found.dice)
    order = kept[np.lexsort((found.j[kept], found.i[kept]))]
    return LinkResult(
        a=a,
        b=b,
        i=found.i[order],
        j=found.j[order],
        dice=found.dice[order],
        comparisons=found.comparisons,
        candidates=len(found.i),
        threshold=threshold,
        blocking=blocking,
        solver=solver,
        seconds=time.perf_counter() - started,
    )


def write_pairs(path: Path, result: LinkResult) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        # Record ids come from partners' files: csvsafe prefixes any that start = + - @ with '.
        csvsafe.write_rows(
            handle,
            (
                [result.a.source, id_a, result.b.source, id_b, f"{score:.4f}"]
                for id_a, id_b, score in result.pairs()
            ),
            ["source_a", "record_id_a", "source_b", "record_id_b", "dice"],
        )


def _fill(encodings: Encodings) -> float:
    if not len(encodings):
        return 0.0
    return float(popcounts(encodings.packed).mean()) / encodings.scheme.output_bits


def report(result: LinkResult, name_a: str, name_b: str) -> str:
    """A short Markdown report: inputs, parameters, counts and the score distribution."""
    scheme = result.a.scheme
    # Bins of 0.05 from the threshold up: pairs piling up in the first bins say the threshold
    # is in the middle of the matches, or that unrelated records are being paired.
    steps = np.arange(np.ceil(result.threshold * 20 + 1e-9) / 20, 1.0, 0.05)
    edges = [result.threshold, *steps.round(2).tolist(), 1.0 + 1e-9]
    hist, _ = np.histogram(result.dice, bins=edges)
    lines = [
        "# PPRL linkage report",
        "",
        f"- A: {name_a} (source {result.a.source or '-'}, {len(result.a):,} records, "
        f"encoded {result.a.created})",
        f"- B: {name_b} (source {result.b.source or '-'}, {len(result.b):,} records, "
        f"encoded {result.b.created})",
        f"- scheme: {scheme.bits} bits, {len(scheme.fields)} fields "
        f"({', '.join(f.name for f in scheme.fields)}), salt "
        f"{scheme.salt.field + ' ' + scheme.salt.part if scheme.salt else 'none'}, balance "
        f"{'on' if scheme.balance else 'off'}, bit flipping {scheme.blip}; key check "
        f"{result.a.key_check}, fingerprint {scheme_fingerprint(scheme)[:16]}",
        f"- blocking: {result.blocking}"
        + (
            f" ({', '.join(b.name for b in scheme.blocking)})"
            if result.blocking == "keys" and scheme.blocking
            else ""
        ),
        f"- fill (share of bits set; unrelated records score about this): "
        f"{_fill(result.a):.2f} in A, {_fill(result.b):.2f} in B",
        f"- comparisons: {result.comparisons:,} (of {len(result.a) * len(result.b):,} "
        "possible pairs)",
        f"- pairs at or above Dice {result.threshold}: {result.candidates:,}",
        f"- one-to-one ({result.solver}): {len(result.i):,} linked pairs; unlinked: "
        f"{len(result.a) - len(result.i):,} in A, {len(result.b) - len(result.i):,} in B",
        f"- time: {result.seconds:.2f} s",
        "",
        "| Dice | linked pairs |",
        "|---|---:|",
    ]
    for lo, hi, count in zip(edges[:-1], edges[1:], hist, strict=False):
        label = f"{lo:.2f} to {min(hi, 1.0):.2f}"
        lines.append(f"| {label} | {int(count):,} |")
    lines += [
        "",
        "pairs.csv holds Dice scores: they help an attacker who also holds encodings, so keep "
        "it at the gateway and share only the linked pairs under the agreement.",
    ]
    return "\n".join(lines) + "\n"
