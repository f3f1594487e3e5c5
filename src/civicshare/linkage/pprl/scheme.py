"""The scheme both partners share (never the secret), the secret and the keys derived from it."""

from __future__ import annotations

import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from civicshare.core.errors import DomainError

FORMAT_NAME = "civicshare-pprl"
FORMAT_VERSION = 1
SECRET_BYTES = 32
FIELD_KINDS = ("name", "text", "digits", "date", "postcode", "exact")
SALT_PARTS = ("year", "value")
BLOCKING_TRANSFORMS = ("soundex", "year", "exact")
SOLVERS = ("optimal", "greedy")
# Per-field checks: a second, small encoding of one field that lets the gateway veto a pair
# whose record-level Dice is high but whose given name, date of birth or NHS number disagree
# (relatives at one address). What each check tolerates: docs/pprl.md, decision 0036.
CHECKS = ("name", "date", "identifier")
CHECK_KINDS = {"name": ("name",), "date": ("date",), "identifier": ("digits", "text", "exact")}
MAX_HASHES = 64  # positions per q-gram; four HMAC-SHA256 blocks


class PprlError(DomainError, ValueError):
    """A problem with a scheme, a secret, an input file or an encoding file, said plainly."""

    status = 422


# --------------------------------------------------------------------------------------------
# Scheme: the parameters both partners must share (never the secret)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str = "text"
    q: int = 2
    k: int = 10  # bit positions per q-gram: the field's weight in the filter (0: not in it)
    check: str | None = None  # one of CHECKS: also encoded on its own for a per-field check


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
    check_bits: int = 256  # length of each per-field check filter

    @property
    def output_bits(self) -> int:
        return self.bits * 2 if self.balance else self.bits

    @property
    def checks(self) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.check)

    def to_dict(self) -> dict[str, Any]:
        # `check` and `check_bits` appear only in schemes that use checks, so the fingerprint
        # of a scheme written before checks existed does not change.
        fields = []
        for f in self.fields:
            item: dict[str, Any] = {"name": f.name, "kind": f.kind, "q": f.q, "k": f.k}
            if f.check:
                item["check"] = f.check
            fields.append(item)
        extra = {"check_bits": self.check_bits} if self.checks else {}
        return {
            "bits": self.bits,
            "fields": fields,
            **extra,
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
        return parse_scheme(data, where)


def parse_scheme(data: Any, where: str) -> Scheme:
    def fail(message: str) -> PprlError:
        return PprlError(f"{where}: {message}")

    if not isinstance(data, dict):
        raise fail("expected a mapping with `bits` and `fields`")
    known = {"bits", "fields", "salt", "balance", "blip", "blocking", "check_bits"}
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
        extra = sorted(set(item) - {"name", "kind", "q", "k", "check"})
        if extra:
            raise fail(f"field {name!r}: unknown setting(s) {', '.join(extra)}")
        kind = item.get("kind", "text")
        if kind not in FIELD_KINDS:
            raise fail(f"field {name!r}: kind must be one of {', '.join(FIELD_KINDS)}")
        q, k = item.get("q", 2), item.get("k", 10)
        if not isinstance(q, int) or not 1 <= q <= 5:
            raise fail(f"field {name!r}: q must be an integer from 1 to 5, got {q!r}")
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= MAX_HASHES:
            raise fail(
                f"field {name!r}: k must be an integer from 0 (not in the record's filter) "
                f"to {MAX_HASHES}, got {k!r}"
            )
        check = item.get("check")
        if check is not None:
            if check not in CHECKS:
                raise fail(f"field {name!r}: check must be one of {', '.join(CHECKS)}")
            if kind not in CHECK_KINDS[check]:
                raise fail(
                    f"field {name!r}: a `{check}` check needs kind "
                    f"{' or '.join(CHECK_KINDS[check])}, not {kind}"
                )
        if any(f.name == name for f in fields):
            raise fail(f"field {name!r} appears twice")
        fields.append(FieldSpec(name=name, kind=kind, q=q, k=k, check=check))
    if not any(f.k for f in fields):
        raise fail("at least one field must have k above 0 (every field is left out of the filter)")
    names = {f.name for f in fields}
    check_bits = data.get("check_bits", 256)
    if (
        not isinstance(check_bits, int)
        or isinstance(check_bits, bool)
        or not 64 <= check_bits <= 4096
        or check_bits & (check_bits - 1)
    ):
        raise fail(f"check_bits must be a power of two from 64 to 4096, got {check_bits!r}")

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
        check_bits=check_bits,
    )


def load_scheme(path: Path) -> Scheme:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PprlError(f"{path}: cannot read the scheme ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise PprlError(f"{path}: not valid YAML ({exc})") from exc
    return parse_scheme(data, str(path))


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


def derive_key(secret: bytes, purpose: str) -> bytes:
    # One subkey per purpose, so a key used for one field never hashes another's q-grams.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=f"{FORMAT_NAME} v1 {purpose}".encode()
    ).derive(secret)


def key_check(secret: bytes) -> str:
    """A short keyed value that shows two files were made with the same secret.

    It is an HMAC of a constant under a derived key: it reveals nothing about the secret,
    and lets the gateway refuse files encoded under different secrets with a clear message.
    """
    return hmac.digest(derive_key(secret, "key check"), b"key check", "sha256")[:8].hex()
