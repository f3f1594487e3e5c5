"""Dice similarity of encodings, and the candidate pairs above a threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from civicshare.linkage.pprl.encoding import Encodings, unpack
from civicshare.linkage.pprl.scheme import PprlError

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
    i, j, s = _sorted_by_i_then_j(found_i, found_j, found_s)
    if stats is not None:
        stats.update(_dice_stats(na * nb, multiplied, exact, len(i), k))
    return i, j, s


def _sorted_by_i_then_j(found_i: list, found_j: list, found_s: list):
    """The pairs ``dice_above`` found, tile by tile, as three arrays sorted by i then j."""
    if not found_i:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
    i, j, s = np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)
    order = np.lexsort((j, i))
    return i[order].astype(np.int64), j[order].astype(np.int64), s[order]


def _dice_stats(pairs: int, multiplied: int, exact: int, found: int, k: int) -> dict[str, int]:
    return {
        "pairs": pairs,
        "popcount_excluded": pairs - multiplied,
        "product": multiplied,
        "prefix_excluded": multiplied - exact,
        "exact": exact,
        "found": found,
        "prefix_bits": k,
    }


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
