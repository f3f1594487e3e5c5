"""Shared constants and helpers for the synthetic county generator."""

from __future__ import annotations

import zlib

import numpy as np

#: The "today" of the synthetic county. Fixed so output never depends on the wall clock.
REF_DATE = np.datetime64("2026-04-01", "D")

#: Characters allowed in the last two letters of a UK postcode (no C, I, K, M, O, V).
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


def rng_for(seed: int, stage: str) -> np.random.Generator:
    """An independent generator per (seed, stage), so stages stay deterministic on their own."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(stage.encode())])
    return np.random.Generator(np.random.PCG64(ss))


def weighted_choice(rng: np.random.Generator, n: int, k: int, exponent: float = 1.0) -> np.ndarray:
    """Indices 0..k-1 drawn with Zipf-like weight 1/(rank+3)**exponent."""
    w = 1.0 / (np.arange(k) + 3.0) ** exponent
    cdf = np.cumsum(w / w.sum())
    cdf[-1] = 1.0
    return np.searchsorted(cdf, rng.random(n), side="right").clip(0, k - 1)


def year_month_day(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split datetime64[D] into integer year, month (1-12) and day (1-31)."""
    d = dates.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, day


def make_dates(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Build datetime64[D] from integer year, month, day arrays (day must be valid)."""
    months = (np.asarray(y) - 1970) * 12 + (np.asarray(m) - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]") + (np.asarray(d) - 1)


def nhs_check_digit(first9: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit for int64 9-digit prefixes; 10 means the prefix is unusable."""
    total = np.zeros(len(first9), dtype=np.int64)
    x = first9.astype(np.int64).copy()
    for weight in range(2, 11):  # least significant digit has weight 2
        total += (x % 10) * weight
        x //= 10
    check = 11 - (total % 11)
    check[check == 11] = 0
    return check


def nhs_is_valid(numbers: list[str] | np.ndarray) -> np.ndarray:
    """Vectorised validity test for 10-digit NHS number strings (spaces ignored)."""
    out = np.zeros(len(numbers), dtype=bool)
    clean = [None if s is None else str(s).replace(" ", "") for s in numbers]
    ok = np.array([c is not None and len(c) == 10 and c.isdigit() for c in clean])
    if ok.any():
        vals = np.array([int(c) for c, k in zip(clean, ok, strict=True) if k], dtype=np.int64)
        check = nhs_check_digit(vals // 10)
        out[ok] = (check != 10) & (check == vals % 10)
    return out
