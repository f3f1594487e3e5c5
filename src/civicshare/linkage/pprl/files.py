"""Encoding files: one JSON metadata line, then one JSON line per record."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import numpy as np

from civicshare.linkage.pprl.checks import check_words
from civicshare.linkage.pprl.encoding import Encodings
from civicshare.linkage.pprl.scheme import (
    FORMAT_NAME,
    FORMAT_VERSION,
    PprlError,
    Scheme,
    parse_scheme,
)

# --------------------------------------------------------------------------------------------
# Encoding files: one JSON metadata line, then one JSON line per record
# --------------------------------------------------------------------------------------------


def write_encodings(path: Path, encodings: Encodings) -> None:
    names = [b.name for b in encodings.scheme.blocking]
    raw = encodings.packed.view(np.uint8)
    checks = None if encodings.checks is None else encodings.checks.view(np.uint8)
    tmp = Path(f"{path}.partial")
    with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(encodings.metadata(), sort_keys=True) + "\n")
        for r, record_id in enumerate(encodings.ids):
            line = {"id": record_id, "clk": base64.b64encode(raw[r].tobytes()).decode("ascii")}
            if names:
                line["blocks"] = [encodings.blocks[name][r] for name in names]
            if checks is not None:
                line["checks"] = base64.b64encode(checks[r].tobytes()).decode("ascii")
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
        scheme = parse_scheme(meta.get("scheme"), f"{path}, line 1, scheme")
        names = [b.name for b in scheme.blocking]
        nbytes = scheme.output_bits // 8
        check_bytes = check_words(scheme) * 8
        ids: list[str] = []
        clks: list[str] = []
        check_texts: list[str] = []
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
            if check_bytes:
                text = record.get("checks")
                if not isinstance(text, str) or len(text) != 4 * ((check_bytes + 2) // 3):
                    raise PprlError(
                        f"{path}, line {line_number}, field checks: not a base64 encoding of "
                        f"{check_bytes * 8} bits (the scheme's checks)"
                    )
                check_texts.append(text)
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
    checks = None
    if check_bytes:
        try:
            raw_checks = b"".join([decode(text, validate=True) for text in check_texts])
        except ValueError:
            bad = next(n for n, text in enumerate(check_texts) if not _is_base64(text))
            raise PprlError(f"{path}, line {bad + 2}, field checks: not valid base64") from None
        checks = (
            np.frombuffer(raw_checks, dtype=np.uint8)
            .reshape(len(ids), check_bytes)
            .view(np.uint64)
            .copy()
        )
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
        checks=checks,
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
