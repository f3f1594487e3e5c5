"""`pprl.dice_above` (popcount band, prefix product, exact recount) equals the brute-force
reference pair for pair and score for score, on random and adversarial filters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicshare.linkage import pprl


def reference(a: np.ndarray, b: np.ndarray, threshold: float) -> dict[tuple[int, int], float]:
    """Every pair with dice_reference >= threshold, by brute force."""
    out = {}
    for x, y in itertools.product(range(len(a)), range(len(b))):
        score = pprl.dice_reference(a[x], b[y])
        if score >= threshold:
            out[(x, y)] = score
    return out


def check(a, b, threshold, **options) -> dict[str, int]:
    stats: dict[str, int] = {}
    i, j, s = pprl.dice_above(a, b, threshold, stats=stats, **options)
    got = list(zip(i.tolist(), j.tolist(), s.tolist(), strict=True))
    expected = reference(a, b, threshold)
    # The same pairs with bit-identical scores, sorted by row of a then row of b.
    assert got == sorted((x, y, score) for (x, y), score in expected.items())
    assert i.dtype == j.dtype == np.int64 and s.dtype == np.float64
    assert stats["pairs"] == len(a) * len(b)
    assert stats["popcount_excluded"] + stats["product"] == stats["pairs"]
    assert stats["prefix_excluded"] + stats["exact"] == stats["product"]
    assert stats["found"] == len(expected) <= stats["exact"]
    return stats


def filters(rng, n: int, words: int, density: float) -> np.ndarray:
    bits = rng.random((n, words * 64)) < density
    return pprl.pack(bits)


@st.composite
def cases(draw):
    words = draw(st.sampled_from([1, 2, 4, 16]))
    na, nb = draw(st.integers(0, 40)), draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    density_a = draw(st.sampled_from([0.0, 0.02, 0.3, 0.5, 0.97, 1.0]))
    density_b = draw(st.sampled_from([density_a, 0.3]))
    a, b = filters(rng, na, words, density_a), filters(rng, nb, words, density_b)
    if na and nb and draw(st.booleans()):
        # Copies and near-copies across the two sides: pairs at Dice 1 and just below.
        for x in range(min(na, nb, 5)):
            b[x] = a[na - 1 - x]
            b[x, 0] ^= np.uint64(1 << draw(st.integers(0, 63))) if x % 2 else np.uint64(0)
    if na and draw(st.booleans()):
        a[: draw(st.integers(1, na))] = 0  # empty filters
    if draw(st.booleans()):
        threshold = draw(st.sampled_from([0.0, 1.0, 0.5, 0.75, 2 / 3, 0.7, 0.9]))
    elif na and nb:
        # A threshold equal to a pair's own Dice: that pair sits exactly on it.
        threshold = pprl.dice_reference(a[seed % na], b[seed % nb])
    else:
        threshold = draw(st.floats(0.0, 1.0))
    prefix = draw(st.sampled_from([None, *range(64, words * 64 + 1, 64)]))
    tile_a, tile_b = draw(st.integers(1, 17)), draw(st.integers(1, 23))
    return a, b, threshold, prefix, tile_a, tile_b


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_dice_above_equals_the_reference_on_random_inputs(case):
    a, b, threshold, prefix, tile_a, tile_b = case
    check(a, b, threshold, prefix_bits=prefix, tile_a=tile_a, tile_b=tile_b)


@pytest.mark.parametrize("threshold", [0.0, 1e-9, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("prefix", [64, 512, 1024])
def test_all_zero_filters(threshold, prefix):
    rng = np.random.default_rng(1)
    a = np.zeros((9, 16), dtype=np.uint64)
    b = filters(rng, 11, 16, 0.3)
    b[[0, 4]] = 0
    check(a, b, threshold, prefix_bits=prefix, tile_a=4, tile_b=3)
    check(b, a, threshold, prefix_bits=prefix, tile_a=4, tile_b=3)


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.75, 0.8, 1.0])
@pytest.mark.parametrize("prefix", [64, 192, 448, 1024])
def test_equal_popcounts_and_dice_exactly_on_the_threshold(threshold, prefix):
    # Every filter has exactly 256 bits set, so Dice = |a&b| / 256 takes the values k/256,
    # thresholds 0.25, 0.5, 0.75 are hit exactly, and the popcount band excludes nothing.
    rng = np.random.default_rng(2)
    rows = np.zeros((60, 1024), dtype=bool)
    for r in range(60):
        rows[r, rng.choice(1024, 256, replace=False)] = True
    a = pprl.pack(rows[:30])
    b = pprl.pack(rows[30:])
    b[3] = a[7]  # Dice 1
    shifted = rows[7].copy()  # Dice exactly 0.75: a quarter of the bits moved elsewhere
    on = np.flatnonzero(shifted)[:64]
    off = np.flatnonzero(~shifted)[:64]
    shifted[on], shifted[off] = False, True
    b[5] = pprl.pack(shifted[None, :])[0]
    stats = check(a, b, threshold, prefix_bits=prefix, tile_a=7, tile_b=9)
    assert stats["popcount_excluded"] == 0
    if threshold == 0.75:
        assert (7, 5) in {(x, y) for x, y in zip(*pprl.dice_above(a, b, 0.75)[:2], strict=True)}


@pytest.mark.parametrize("threshold", [0.3, 0.75, 0.95])
def test_widely_different_popcounts_are_excluded_by_the_band(threshold):
    rng = np.random.default_rng(3)
    a = np.concatenate([filters(rng, 20, 16, d) for d in (0.05, 0.2, 0.5)])
    b = np.concatenate([filters(rng, 25, 16, d) for d in (0.5, 0.05, 0.9)])
    b[0] = a[45]
    stats = check(a, b, threshold, prefix_bits=1024, tile_a=5, tile_b=8)
    assert stats["popcount_excluded"] > 0


@pytest.mark.parametrize(("na", "nb"), [(1, 1), (1, 70), (70, 1), (0, 5), (5, 0), (0, 0)])
def test_tiny_and_empty_shapes(na, nb):
    rng = np.random.default_rng(4)
    a, b = filters(rng, na, 16, 0.3), filters(rng, nb, 16, 0.3)
    for threshold in (0.0, 0.3, 1.0):
        check(a, b, threshold)
        check(a, b, threshold, prefix_bits=64, tile_a=3, tile_b=1)


def test_the_automatic_prefix_choice_on_encodings(monkeypatch):
    # Encoded records with near-copies: K is chosen from a sample (forced here for a small
    # input), and the result is still exactly the reference's.
    monkeypatch.setattr(pprl.dice, "CHOOSE_MIN_PAIRS", 0)
    rng = np.random.default_rng(5)
    a = filters(rng, 150, 16, 0.25)
    b = a[rng.permutation(150)[:130]].copy()
    noise = pprl.pack(rng.random((130, 1024)) < 0.05)
    b ^= noise
    for threshold in (0.5, 0.75, 0.9):
        stats = check(a, b, threshold, tile_a=64, tile_b=100)
        assert 64 <= stats["prefix_bits"] <= 1024


def test_a_bad_prefix_is_refused():
    a = np.zeros((2, 16), dtype=np.uint64)
    with pytest.raises(ValueError, match="multiple of 64"):
        pprl.dice_above(a, a, 0.5, prefix_bits=100)
