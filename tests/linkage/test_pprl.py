"""Privacy-preserving linkage: encodings, blocking, Dice, one-to-one, refusals (synthetic data)."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from civicshare.cli import app
from civicshare.linkage import pprl

SCHEME = {
    "bits": 1024,
    "fields": [
        {"name": "given_name", "kind": "name", "k": 10},
        {"name": "surname", "kind": "name", "k": 10},
        {"name": "date_of_birth", "kind": "date", "k": 10},
        {"name": "sex", "kind": "exact", "k": 4},
        {"name": "postcode", "kind": "postcode", "k": 8},
    ],
    "blocking": [
        {"name": "surname_soundex", "field": "surname", "transform": "soundex"},
        {"name": "birth_year", "field": "date_of_birth", "transform": "year"},
    ],
}
GIVEN = ["OLIVIA", "AMELIA", "ISLA", "AVA", "NOAH", "OLIVER", "GEORGE", "ARTHUR", "LEO", "MUHAMMAD"]
SURNAMES = ["SMITH", "JONES", "TAYLOR", "BROWN", "WILLIAMS", "WILSON", "JOHNSON", "DAVIES", "PATEL"]
KEY_1 = bytes(range(32))
KEY_2 = bytes(range(1, 33))


def people(n: int, seed: int = 7) -> tuple[list[str], dict[str, list[str | None]]]:
    """Synthetic, normalised identifiers of n people."""
    rng = np.random.default_rng(seed)
    values: dict[str, list[str | None]] = {
        "given_name": [GIVEN[x] for x in rng.integers(0, len(GIVEN), n)],
        "surname": [SURNAMES[x] for x in rng.integers(0, len(SURNAMES), n)],
        "date_of_birth": [
            f"{y}{m:02d}{d:02d}"
            for y, m, d in zip(
                rng.integers(1930, 2010, n), rng.integers(1, 13, n), rng.integers(1, 29, n),
                strict=True,
            )
        ],
        "sex": [("F", "M")[x] for x in rng.integers(0, 2, n)],
        "postcode": [f"WR{a}{b}{c}{d}" for a, b, c, d in zip(
            rng.integers(1, 15, n), rng.integers(1, 9, n),
            rng.choice(list("ABDEFGHJ"), n), rng.choice(list("LNPQRSTU"), n), strict=True)],
    }  # fmt: skip
    return [f"p{r}" for r in range(n)], values


def encode(values, ids, secret=KEY_1, **changes) -> pprl.Encodings:
    scheme = pprl.Scheme.from_dict({**SCHEME, **changes})
    return pprl.encode(scheme, secret, values, ids, source="test")


def matched_dice(a: pprl.Encodings, b: pprl.Encodings) -> np.ndarray:
    """Dice of row r of a with row r of b."""
    rows = np.arange(len(a))
    return pprl.dice_of_pairs(a.packed, b.packed, rows, rows)


def unmatched_dice(a: pprl.Encodings, b: pprl.Encodings) -> np.ndarray:
    """Dice of row r of a with row r+1 of b (other people)."""
    rows = np.arange(len(a) - 1)
    return pprl.dice_of_pairs(a.packed, b.packed, rows, rows + 1)


# ---- encodings --------------------------------------------------------------------------------


def test_encodings_are_deterministic_given_the_key():
    ids, values = people(300)
    first, second = encode(values, ids), encode(values, ids)
    assert np.array_equal(first.packed, second.packed)
    assert first.blocks == second.blocks
    assert first.key_check == second.key_check


@pytest.mark.parametrize("changes", [{}, {"salt": {"field": "date_of_birth"}}, {"balance": True}])
def test_encoding_in_blocks_of_records_gives_the_same_filters(monkeypatch, changes):
    ids, values = people(100)
    whole = encode(values, ids, **changes)
    monkeypatch.setattr(pprl.encoding, "ENCODE_CHUNK", 7)
    assert np.array_equal(encode(values, ids, **changes).packed, whole.packed)


def test_one_typo_keeps_a_record_similar():
    ids, values = people(300)
    typo = dict(values, surname=[s[:2] + s[3:] for s in values["surname"]])  # drop a letter
    scores = matched_dice(encode(values, ids), encode(typo, ids))
    others = unmatched_dice(encode(values, ids), encode(typo, ids))
    assert scores.min() > 0.8
    assert scores.min() > np.quantile(others, 0.99)


def test_different_keys_give_unlinkable_encodings():
    ids, values = people(400)
    under_1, under_2 = encode(values, ids, KEY_1), encode(values, ids, KEY_2)
    same_person = matched_dice(under_1, under_2)
    # Two independent random filters with a fraction f of bits set have Dice about f: the
    # same person under two keys is no more alike than that, and less alike than two
    # strangers (who share a sex or a common name) under one key.
    fill = pprl.popcounts(under_1.packed).mean() / 1024
    assert abs(same_person.mean() - fill) < 0.03
    assert same_person.mean() < unmatched_dice(under_1, under_1).mean()
    assert same_person.max() < 0.5
    assert under_1.key_check != under_2.key_check
    shared_blocks = sum(
        x == y
        for name in under_1.blocks
        for x, y in zip(under_1.blocks[name], under_2.blocks[name], strict=True)
    )
    assert shared_blocks == 0


def test_fields_are_hashed_with_their_own_keys():
    # The same surname in the given-name field must not set the same bits.
    ids, values = people(200)
    swapped = dict(values, given_name=values["surname"], surname=values["given_name"])
    names_only = {"fields": SCHEME["fields"][:2], "blocking": []}
    scores = matched_dice(encode(values, ids, **names_only), encode(swapped, ids, **names_only))
    assert scores.mean() < 0.3


def test_salting_makes_the_same_values_unrelated_across_salt_values():
    ids, values = people(300)
    salt = {"salt": {"field": "date_of_birth", "part": "year"}}
    other_year = dict(
        values, date_of_birth=[str(int(d[:4]) + 1) + d[4:] for d in values["date_of_birth"]]
    )
    salted, salted_again = encode(values, ids, **salt), encode(values, ids, **salt)
    assert np.array_equal(salted.packed, salted_again.packed)
    # Unsalted, a changed year keeps most of the record; salted, nothing is left.
    assert matched_dice(encode(values, ids), encode(other_year, ids)).min() > 0.8
    across_years = matched_dice(salted, encode(other_year, ids, **salt))
    assert across_years.mean() < unmatched_dice(salted, salted).mean() + 0.05
    # And salting changes the encoding itself, not only across years.
    assert not np.array_equal(salted.packed, encode(values, ids).packed)


@pytest.mark.parametrize("probability", [0.02, 0.1])
def test_bit_flipping_changes_bits_at_the_configured_rate(probability):
    ids, values = people(1000)
    plain = encode(values, ids)
    flipped = encode(values, ids, blip=probability)
    changed = np.bitwise_count(plain.packed ^ flipped.packed).sum() / (len(ids) * 1024)
    # 1,024,000 bits: the standard error is below 0.0003, so 0.004 is far outside chance.
    assert abs(changed - probability) < 0.004
    # Fresh randomness each run: flips are not reproducible by whoever sees two encodings.
    assert not np.array_equal(flipped.packed, encode(values, ids, blip=probability).packed)


def test_balanced_encodings_have_exactly_half_their_bits_set():
    ids, values = people(200)
    balanced = encode(values, ids, balance=True)
    assert balanced.packed.shape == (200, 2048 // 64)
    assert set(pprl.popcounts(balanced.packed).tolist()) == {1024}


def test_normalisation_and_qgrams():
    assert pprl.normalise("name", "  Zoë  O'Brien-Smith ") == "ZOE O BRIEN SMITH"
    assert pprl.normalise("postcode", "wr1 2ab") == "WR12AB"
    assert pprl.normalise("date", "1956-04-09") == pprl.normalise("date", "19560409")
    assert pprl.normalise("date", "19561309") == "19561309"  # a typo still links
    assert pprl.normalise("date", "9/4/1956") == pprl.normalise("date", "09-04-1956") == "19560409"
    for not_a_date in ("9 April 1956", "09/04/56", "1956-04-09T10:00", "195604091"):
        with pytest.raises(ValueError, match="not a date"):
            pprl.normalise("date", not_a_date)
    assert pprl.normalise("name", "   ") is None
    with pytest.raises(ValueError, match="not a date"):
        pprl.normalise("date", "9 April 1956")
    assert pprl.qgrams("name", "JOHN", 2) == ["_J", "JO", "OH", "HN", "N_"]
    assert pprl.qgrams("exact", "F", 2) == ["F"]


@pytest.mark.parametrize(
    ("name", "code"),
    [("ROBERT", "R163"), ("RUPERT", "R163"), ("ASHCRAFT", "A261"), ("TYMCZAK", "T522"),
     ("PFISTER", "P236"), ("HONEYMAN", "H555"), ("LEE", "L000")],
)  # fmt: skip
def test_soundex(name, code):
    assert pprl.soundex(name) == code


# ---- Dice -------------------------------------------------------------------------------------


def random_filters(n: int, words: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # About a third of the bits set, like a real encoding.
    return rng.integers(0, 2**64, (n, words), dtype=np.uint64) & rng.integers(
        0, 2**64, (n, words), dtype=np.uint64
    )


def test_dice_above_matches_a_brute_force_reference_across_tile_edges():
    a, b = random_filters(37, 16, 1), random_filters(45, 16, 2)
    b[3] = a[5]  # one identical pair
    b[4] = 0  # an empty filter
    i, j, s = pprl.dice_above(a, b, 0.0, tile_a=8, tile_b=16)
    assert len(i) == 37 * 45
    got = {(x, y): v for x, y, v in zip(i.tolist(), j.tolist(), s.tolist(), strict=True)}
    for x, y in itertools.product(range(37), range(45)):
        assert got[(x, y)] == pytest.approx(pprl.dice_reference(a[x], b[y]), abs=1e-6)
    assert got[(5, 3)] == pytest.approx(1.0)


def test_dice_above_keeps_exactly_the_pairs_at_or_above_the_threshold():
    a, b = random_filters(60, 16, 3), random_filters(70, 16, 4)
    reference = np.array([[pprl.dice_reference(x, y) for y in b] for x in a])
    threshold = float(np.quantile(reference, 0.9))
    i, j, _ = pprl.dice_above(a, b, threshold, tile_a=16, tile_b=32)
    expected = set(zip(*np.nonzero(reference >= threshold - 1e-9), strict=True))
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == expected


@pytest.mark.parametrize(
    ("large_block_pairs", "pairs_per_chunk"), [(1 << 18, 1 << 22), (4, 1 << 22), (1 << 18, 50)]
)
def test_blocked_comparison_equals_brute_force_over_pairs_sharing_a_key(
    monkeypatch, large_block_pairs, pairs_per_chunk
):
    # Every path: gathered small blocks (in one chunk or many), and blocks large enough for
    # the matrix product.
    monkeypatch.setattr(pprl.dice, "LARGE_BLOCK_PAIRS", large_block_pairs)
    monkeypatch.setattr(pprl.dice, "PAIRS_PER_CHUNK", pairs_per_chunk)
    ids, values = people(150, seed=1)
    ids_b, values_b = people(120, seed=2)
    a, b = encode(values, ids), encode(values_b, ids_b)
    found = pprl.compare(a, b, 0.3, blocking="keys")
    expected = {}
    for x, y in itertools.product(range(len(a)), range(len(b))):
        shares = any(
            a.blocks[n][x] is not None and a.blocks[n][x] == b.blocks[n][y] for n in a.blocks
        )
        score = pprl.dice_reference(a.packed[x], b.packed[y])
        if shares and score >= 0.3:
            expected[(x, y)] = score
    got = dict(
        zip(zip(found.i.tolist(), found.j.tolist(), strict=True), found.dice.tolist(), strict=True)
    )
    assert got.keys() == expected.keys()
    for pair, score in expected.items():
        assert got[pair] == pytest.approx(score, abs=1e-6)


# ---- one-to-one -------------------------------------------------------------------------------


def candidate_graph(seed: int, n: int = 12, edges: int = 40):
    rng = np.random.default_rng(seed)
    flat = rng.choice(n * n, edges, replace=False)
    return flat // n, flat % n, rng.uniform(0.5, 1.0, edges).round(3)


def is_one_to_one(i, j) -> bool:
    return len(set(i.tolist())) == len(i) and len(set(j.tolist())) == len(j)


@pytest.mark.parametrize("seed", range(5))
def test_greedy_is_one_to_one_and_takes_the_best_pair_first(seed):
    i, j, s = candidate_graph(seed)
    kept = pprl.solve_greedy(i, j, s)
    assert is_one_to_one(i[kept], j[kept])
    assert int(np.argmax(s)) in kept.tolist()
    # Maximal: every dropped pair conflicts with a kept pair of at least its score.
    for p in set(range(len(i))) - set(kept.tolist()):
        blockers = [q for q in kept if i[q] == i[p] or j[q] == j[p]]
        assert blockers and max(s[q] for q in blockers) >= s[p]


@pytest.mark.parametrize("seed", range(5))
def test_optimal_is_one_to_one_and_maximises_the_total_score(seed):
    i, j, s = candidate_graph(seed, n=6, edges=14)
    kept = pprl.solve_optimal(i, j, s)
    assert is_one_to_one(i[kept], j[kept])
    best = 0.0
    for size in range(1, 7):
        for chosen in itertools.combinations(range(len(i)), size):
            chosen = list(chosen)
            if is_one_to_one(i[chosen], j[chosen]):
                best = max(best, float(s[chosen].sum()))
    assert float(s[kept].sum()) == pytest.approx(best)
    assert float(s[kept].sum()) >= float(s[pprl.solve_greedy(i, j, s)].sum()) - 1e-9


def test_optimal_does_not_trade_a_strong_pair_for_two_weak_ones_to_pair_more_records():
    # Pairing 0-1 and 1-0 links both records of A (0.5 + 0.3); the best total is 0-0 alone.
    i, j, s = np.array([0, 0, 1]), np.array([0, 1, 0]), np.array([0.9, 0.5, 0.3])
    assert pprl.solve_optimal(i, j, s).tolist() == [0]


def test_link_pairs_each_record_once_and_finds_the_people():
    ids, values = people(500, seed=3)
    typo = dict(values, given_name=[g[:-1] for g in values["given_name"]])
    result = pprl.link(encode(values, ids), encode(typo, ids), threshold=0.7)
    assert is_one_to_one(result.i, result.j)
    # Names and years repeat in this small population, so a few near-twins may swap.
    assert np.mean(result.i == result.j) > 0.97


# ---- files, refusals and errors ----------------------------------------------------------------


def test_encoding_files_round_trip(tmp_path):
    ids, values = people(50)
    written = encode(values, ids)
    pprl.write_encodings(tmp_path / "a.jsonl", written)
    read = pprl.read_encodings(tmp_path / "a.jsonl")
    assert read.ids == written.ids
    assert np.array_equal(read.packed, written.packed)
    assert read.blocks == written.blocks
    assert read.scheme == written.scheme
    assert read.key_check == written.key_check
    assert "secret" not in (tmp_path / "a.jsonl").read_text().splitlines()[0].lower()


def test_mismatched_schemes_and_secrets_are_refused():
    ids, values = people(20)
    base = encode(values, ids)
    with pytest.raises(pprl.PprlError, match=r"different schemes.*bits: 1024 in A but 512 in B"):
        pprl.check_compatible(base, encode(values, ids, bits=512))
    with pytest.raises(pprl.PprlError, match=r"different schemes.*salt"):
        pprl.check_compatible(base, encode(values, ids, salt={"field": "date_of_birth"}))
    with pytest.raises(pprl.PprlError, match="different secrets"):
        pprl.link(base, encode(values, ids, KEY_2))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bits": 1000}, "bits must be a power of two"),
        ({"fields": []}, "fields must be a non-empty list"),
        ({"fields": [{"name": "x", "kind": "colour"}]}, "kind must be one of"),
        ({"salt": {"field": "nowhere"}}, "salt must be a mapping whose `field`"),
        ({"blip": 0.5}, "blip must be a probability"),
        ({"colour": "blue"}, "unknown setting"),
    ],
)
def test_bad_schemes_are_refused_with_the_reason(change, message):
    with pytest.raises(pprl.PprlError, match=message):
        pprl.Scheme.from_dict({**SCHEME, **change})


def write_csv(path, rows, header=("record_id", "given_name", "surname", "date_of_birth",
                                  "sex", "postcode")):  # fmt: skip
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_bad_input_names_the_file_row_and_field(tmp_path):
    scheme = pprl.Scheme.from_dict(SCHEME)
    good = ["r1", "Ann", "Lee", "1970-01-02", "F", "WR1 2AB"]
    path = tmp_path / "people.csv"
    write_csv(path, [good, ["r2", "Bob", "Ray", "2 Jan 1970", "M", "WR1 2AB"]])
    with pytest.raises(
        pprl.PprlError, match=r"people\.csv, row 3, field date_of_birth: .*date"
    ) as error:
        pprl.read_identifiers(path, scheme)
    assert "Jan" not in str(error.value)  # the value of an identifier is never repeated
    write_csv(path, [good, good])
    with pytest.raises(pprl.PprlError, match=r"row 3, field record_id: .*already on row 2"):
        pprl.read_identifiers(path, scheme)
    write_csv(path, [good], header=("record_id", "forename", "surname", "date_of_birth", "sex",
                                    "postcode"))  # fmt: skip
    with pytest.raises(pprl.PprlError, match=r"column\(s\) given_name not in the header"):
        pprl.read_identifiers(path, scheme)
    ids, values = pprl.read_identifiers(path, scheme, {"given_name": "forename"})
    assert ids == ["r1"] and values["given_name"] == ["ANN"]


def test_bad_encoding_files_name_the_line(tmp_path):
    ids, values = people(5)
    path = tmp_path / "a.jsonl"
    pprl.write_encodings(path, encode(values, ids))
    lines = path.read_text().splitlines()
    record = json.loads(lines[3])
    record["clk"] = record["clk"][:-8]
    path.write_text("\n".join([*lines[:3], json.dumps(record), *lines[4:]]) + "\n")
    with pytest.raises(pprl.PprlError, match=r"a\.jsonl, line 4, field clk"):
        pprl.read_encodings(path)
    path.write_text("record_id,clk\n")
    with pytest.raises(pprl.PprlError, match="line 1: not a civicshare PPRL encoding file"):
        pprl.read_encodings(path)


def test_secrets_are_private_files_never_overwritten(tmp_path):
    runner = CliRunner()
    key = tmp_path / "linkage.key"
    result = runner.invoke(app, ["pprl", "keygen", str(key)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    secret = pprl.read_secret(key)
    assert len(secret) == 32 and pprl.key_check(secret) in result.output
    again = runner.invoke(app, ["pprl", "keygen", str(key)])
    assert again.exit_code == 2 and "already exists" in again.output
    assert pprl.read_secret(key) == secret
    (tmp_path / "short.key").write_text("abc123\n")
    with pytest.raises(pprl.PprlError, match="64 hex digits"):
        pprl.read_secret(tmp_path / "short.key")


def no_store(tmp_path) -> dict[str, str]:
    """Settings pointing at a data directory where no governance store was ever made."""
    return {
        "CIVICSHARE_DATA_DIR": str(tmp_path / "no-store"),
        "CIVICSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'no-store' / 'civicshare.db'}",
    }


def test_cli_encodes_links_and_refuses_encodings_under_another_secret(tmp_path):
    runner = CliRunner()
    scheme = tmp_path / "scheme.yaml"
    scheme.write_text(json.dumps(SCHEME))  # JSON is YAML
    ids, values = people(200, seed=5)
    rows = [[ids[r], *(values[f][r] for f in ("given_name", "surname", "date_of_birth", "sex",
                                               "postcode"))] for r in range(len(ids))]  # fmt: skip
    write_csv(tmp_path / "a.csv", rows)
    write_csv(tmp_path / "b.csv", [[f"b-{r[0]}", r[1].lower(), *r[2:]] for r in rows[::-1]])
    for name in ("one.key", "two.key"):
        assert runner.invoke(app, ["pprl", "keygen", str(tmp_path / name)]).exit_code == 0

    def encode_file(data, key, out):
        result = runner.invoke(app, ["pprl", "encode", str(tmp_path / data),
                                     "--scheme", str(scheme), "--secret", str(tmp_path / key),
                                     "--source", data, "--out", str(tmp_path / out)])  # fmt: skip
        assert result.exit_code == 0, result.output

    encode_file("a.csv", "one.key", "a.jsonl")
    encode_file("b.csv", "one.key", "b.jsonl")
    encode_file("b.csv", "two.key", "b2.jsonl")
    result = runner.invoke(app, ["pprl", "link", str(tmp_path / "a.jsonl"),
                                 str(tmp_path / "b.jsonl"), "--out", str(tmp_path / "run"),
                                 "--threshold", "0.9", "--no-audit"],
                           env=no_store(tmp_path))  # fmt: skip
    assert result.exit_code == 0, result.output
    with open(tmp_path / "run" / "pairs.csv") as handle:
        pairs = list(csv.DictReader(handle))
    assert len(pairs) == 200
    assert all(p["record_id_b"] == f"b-{p['record_id_a']}" for p in pairs)
    assert {p["source_a"] for p in pairs} == {"a.csv"}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "200 linked pairs" in report
    fill = re.search(r"fill .*: (0\.\d\d) in A", report)
    assert fill and 0.1 < float(fill.group(1)) < 0.6

    refused = runner.invoke(app, ["pprl", "link", str(tmp_path / "a.jsonl"),
                                  str(tmp_path / "b2.jsonl"), "--out", str(tmp_path / "run2"),
                                  "--no-audit"], env=no_store(tmp_path))  # fmt: skip
    assert refused.exit_code == 2
    assert "different secrets" in refused.output
    assert not (tmp_path / "run2").exists()


def test_cli_encode_reports_a_bad_value_by_file_row_and_field_and_writes_nothing(tmp_path):
    runner = CliRunner()
    scheme = tmp_path / "scheme.yaml"
    scheme.write_text(json.dumps(SCHEME))
    assert runner.invoke(app, ["pprl", "keygen", str(tmp_path / "k")]).exit_code == 0
    write_csv(tmp_path / "a.csv", [["r1", "Ann", "Lee", "1970-01-02", "F", "WR1 2AB"],
                                   ["r2", "Bob", "Ray", "02/01/70", "M", "WR1 2AB"]])  # fmt: skip
    result = runner.invoke(app, ["pprl", "encode", str(tmp_path / "a.csv"), "--scheme", str(scheme),
                                 "--secret", str(tmp_path / "k"), "--source", "a",
                                 "--out", str(tmp_path / "a.jsonl")])  # fmt: skip
    assert result.exit_code == 2
    assert "a.csv, row 3, field date_of_birth" in " ".join(result.output.split())
    assert not (tmp_path / "a.jsonl").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_bucket_bits_merge_blocking_keys_into_few_buckets():
    ids, values = people(300)
    blocking = [{"name": "postcode", "field": "postcode", "transform": "exact"}]
    exact = encode(values, ids, blocking=blocking).blocks["postcode"]
    buckets = encode(values, ids, blocking=[{**blocking[0], "bucket_bits": 4}]).blocks["postcode"]
    assert len(set(exact)) > 100
    assert len(set(buckets)) <= 16
    # Records sharing a key still share a bucket: blocking loses nothing, blocks grow.
    for x, y in itertools.combinations(range(len(ids)), 2):
        if exact[x] == exact[y]:
            assert buckets[x] == buckets[y]


def test_a_truncated_encoding_file_is_refused(tmp_path):
    ids, values = people(10)
    path = tmp_path / "a.jsonl"
    pprl.write_encodings(path, encode(values, ids))
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-3]))
    with pytest.raises(pprl.PprlError, match=r"header says 10 records, the file holds 7"):
        pprl.read_encodings(path)


def test_pairs_csv_shows_formula_record_ids_as_text(tmp_path):
    ids, values = people(40, seed=5)
    evil = [f'=HYPERLINK("http://evil.example","{i}")' if n % 2 else f"-{i}"
            for n, i in enumerate(ids)]  # fmt: skip
    result = pprl.link(encode(values, evil), encode(values, evil), threshold=0.7)
    pprl.write_pairs(tmp_path / "pairs.csv", result)
    text = (tmp_path / "pairs.csv").read_text()
    assert '"\'=HYPERLINK(""http://evil.example""' in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) >= 35
    for row in rows:
        assert row["record_id_a"][0] == row["record_id_b"][0] == "'"
        assert row["record_id_a"][1:] in evil
        assert 0.7 <= float(row["dice"]) <= 1
