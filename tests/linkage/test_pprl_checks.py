"""Per-field checks keep relatives apart in privacy-preserving linkage (synthetic rows).

The scheme and threshold are those documented in docs/pprl.md (uk-scheme.yaml, read from
that page). Each refusal test also shows that without the checks the pair would have linked,
so it tests the check and not a scheme too strict to link relatives anyway.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from civicshare.linkage import pprl

DOCS = Path(__file__).resolve().parents[2] / "docs" / "pprl.md"
KEY = bytes(range(32))
COLUMNS = ("given_name", "surname", "date_of_birth", "sex", "address", "postcode", "nhs_number")


def documented() -> tuple[pprl.Scheme, float]:
    text = DOCS.read_text()
    blocks = re.findall(r"```yaml\n(# uk-scheme\.yaml.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/pprl.md must hold exactly one uk-scheme.yaml block"
    threshold = re.search(r"uk-scheme.*?Link\s+at `--threshold ([0-9.]+)`", text, re.S)
    assert threshold, "docs/pprl.md must say the uk-scheme threshold"
    return pprl.Scheme.from_dict(yaml.safe_load(blocks[0])), float(threshold.group(1))


SCHEME, THRESHOLD = documented()


def encode(rows: list[tuple[str, ...]], source: str) -> pprl.Encodings:
    values: dict[str, list[str | None]] = {c: [] for c in COLUMNS}
    for row in rows:
        for spec, raw in zip(SCHEME.fields, row[1:], strict=True):
            values[spec.name].append(pprl.normalise(spec.kind, raw))
    return pprl.encode(SCHEME, KEY, values, [row[0] for row in rows], source=source)


def linked(a_rows, b_rows, **options) -> set[tuple[str, str]]:
    a, b = encode(a_rows, "council"), encode(b_rows, "gp")
    result = pprl.link(a, b, threshold=THRESHOLD, **options)
    return {(id_a, id_b) for id_a, id_b, _ in result.pairs()}


HALL_FATHER = ("c-hall-1", "Peter", "Hall", "1958-03-14", "M", "12 Tennyson Street", "WR1 2AB", "")
HALL_SON = ("g-hall-2", "Peter", "Hall", "1986-07-02", "M", "12 Tennyson Street", "WR1 2AB",
            "9434765919")  # fmt: skip
RHYS_A = ("c-rhys", "Rhys", "Morgan", "2012-05-09", "M", "5 Elgar Close", "WR2 4DE", "")
LEO_A = ("c-leo", "Leo", "Morgan", "2012-05-09", "M", "5 Elgar Close", "WR2 4DE", "")
RHYS_B = ("g-rhys", "Rhys", "Morgan", "2012-05-09", "M", "5 Elgar Close", "WR2 4DE", "4010232137")
LEO_B = ("g-leo", "Leo", "Morgan", "2012-05-09", "M", "5 Elgar Cl", "WR2 4DE", "4010232145")


def test_the_two_peter_halls_are_not_linked_at_the_documented_threshold():
    # Father on the council file, son on the GP file: same name, sex and address.
    assert linked([HALL_FATHER], [HALL_SON], checks=False) == {("c-hall-1", "g-hall-2")}
    assert linked([HALL_FATHER], [HALL_SON]) == set()


def test_the_same_peter_hall_still_links():
    son_on_council = ("c-hall-2", *HALL_SON[1:7], "")
    assert linked([HALL_FATHER, son_on_council], [HALL_SON]) == {("c-hall-2", "g-hall-2")}


def test_twins_are_not_linked_crosswise():
    # Leo's GP record has a shortened address, so crosswise Rhys-Leo scores high too.
    assert linked([LEO_A], [RHYS_B], checks=False) == {("c-leo", "g-rhys")}
    assert linked([LEO_A], [RHYS_B]) == set()
    assert linked([RHYS_A, LEO_A], [RHYS_B, LEO_B]) == {("c-rhys", "g-rhys"), ("c-leo", "g-leo")}
    assert linked([RHYS_A, LEO_A], [LEO_B, RHYS_B], solver="greedy") == {
        ("c-rhys", "g-rhys"),
        ("c-leo", "g-leo"),
    }


@pytest.mark.parametrize(
    ("council", "gp"),
    [
        (("c1", "James", "Whitfield", "1971-11-23", "M", "3 Severn Way", "WR3 7HJ", ""),
         ("g1", "Jim", "Whitfield", "1971-11-23", "M", "3 Severn Way", "WR3 7HJ", "9990001112")),
        (("c1", "Margaret", "Okafor", "1949-02-06", "F", "7 Pershore Road", "WR5 1QT", ""),
         ("g1", "Peggy", "Okafor", "1949-02-06", "F", "7 Pershore Road", "WR5 1QT", "")),
        # Day and month swapped; a typo in the given name; an initial only.
        (("c1", "Sophie", "Turner", "1990-04-11", "F", "2 Mill Lane", "WR9 8PL", ""),
         ("g1", "Sophie", "Turner", "1990-11-04", "F", "2 Mill Lane", "WR9 8PL", "")),
        (("c1", "Gareth", "Price", "1965-09-30", "M", "40 High Street", "WR10 1AA", ""),
         ("g1", "Gareht", "Price", "1965-09-30", "M", "40 High Street", "WR10 1AA", "")),
        (("c1", "D", "Singh", "1980-01-15", "M", "8 Croft Road", "WR11 3BB", ""),
         ("g1", "Daljit", "Singh", "1980-01-15", "M", "8 Croft Road", "WR11 3BB", "")),
    ],
    ids=["jim-james", "peggy-margaret", "day-month-swap", "name-typo", "initial"],
)  # fmt: skip
def test_a_nickname_swap_typo_or_initial_still_links(council, gp):
    assert linked([council], [gp]) == {("c1", "g1")}


def test_nhs_numbers_that_differ_refuse_a_pair_and_one_digit_does_not():
    base = ("c1", "Amira", "Haddad", "2001-06-18", "F", "9 Bath Road", "WR1 9ZZ")
    other = ("g1", *base[1:])
    assert linked([(*base, "9434765919")], [(*other, "9434765919")]) == {("c1", "g1")}
    assert linked([(*base, "9434765919")], [(*other, "9434765929")]) == {("c1", "g1")}
    assert linked([(*base, "9434765919")], [(*other, "9434756919")]) == {("c1", "g1")}
    assert linked([(*base, "9434765919")], [(*other, "4010232137")]) == set()
    assert linked([(*base, "")], [(*other, "4010232137")]) == {("c1", "g1")}


def test_the_same_nhs_number_outweighs_a_given_name_mistyped_on_both_sides():
    council = ("c1", "Andoea", "Smith", "1980-01-15", "F", "64 Battenhall Road", "WR8 1UW")
    gp = ("g1", "Nndrea", *council[2:])
    assert linked([(*council, "")], [(*gp, "9639382388")]) == set()
    assert linked([(*council, "9639382388")], [(*gp, "9639382388")]) == {("c1", "g1")}


def test_the_report_and_the_result_count_the_refused_pairs():
    a, b = encode([HALL_FATHER, RHYS_A, LEO_A], "council"), encode([HALL_SON, RHYS_B], "gp")
    result = pprl.link(a, b, threshold=THRESHOLD)
    assert result.refused_pairs >= 2
    assert result.refused["given_name"] >= 1 and result.refused["date_of_birth"] >= 1
    text = pprl.report(result, "council.jsonl", "gp.jsonl")
    assert f"refused by a per-field check: {result.refused_pairs}" in text


def test_checks_survive_the_encoding_file(tmp_path):
    a = encode([HALL_FATHER, RHYS_A, LEO_A], "council")
    pprl.write_encodings(tmp_path / "a.jsonl", a)
    read = pprl.read_encodings(tmp_path / "a.jsonl")
    assert read.checks is not None and np.array_equal(read.checks, a.checks)
    assert read.checks.shape[1] == pprl.check_words(SCHEME)


def test_a_damaged_check_names_the_line_and_field(tmp_path):
    path = tmp_path / "a.jsonl"
    pprl.write_encodings(path, encode([HALL_FATHER, RHYS_A], "council"))
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace('"checks": "', '"checks": "xx')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(pprl.PprlError, match=r"a\.jsonl, line 3, field checks"):
        pprl.read_encodings(path)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({"name": "dob", "kind": "text", "check": "date"}, "a `date` check needs kind date"),
        ({"name": "dob", "kind": "date", "check": "age"}, "check must be one of"),
        ({"name": "dob", "kind": "date", "k": -1}, "k must be an integer from 0"),
    ],
)
def test_a_bad_check_setting_is_refused_with_the_field(field, message):
    with pytest.raises(pprl.PprlError, match=re.escape(message)):
        pprl.parse_scheme({"bits": 1024, "fields": [{"name": "x", "kind": "name"}, field]}, "s")


def test_a_scheme_with_every_field_left_out_of_the_filter_is_refused():
    with pytest.raises(pprl.PprlError, match="at least one field must have k above 0"):
        pprl.parse_scheme(
            {"bits": 1024, "fields": [{"name": "nhs", "kind": "digits", "k": 0}]}, "s"
        )


def test_a_field_with_k_0_sets_no_bits():
    a = encode([HALL_FATHER], "council")
    b = encode([(*HALL_FATHER[:7], "9434765919")], "gp")
    assert np.array_equal(a.packed, b.packed)
    assert not np.array_equal(a.checks, b.checks)


def test_the_command_line_refuses_the_pairs_and_no_checks_shows_what_they_change(tmp_path):
    from typer.testing import CliRunner

    from civicshare.cli import app

    runner = CliRunner()
    header = "record_id," + ",".join(COLUMNS) + "\n"
    (tmp_path / "council.csv").write_text(
        header + "\n".join(",".join(row) for row in (HALL_FATHER, RHYS_A, LEO_A)) + "\n"
    )
    (tmp_path / "gp.csv").write_text(
        header + "\n".join(",".join(row) for row in (HALL_SON, RHYS_B)) + "\n"
    )
    block = re.search(r"```yaml\n(# uk-scheme\.yaml.*?)```", DOCS.read_text(), re.S)
    (tmp_path / "scheme.yaml").write_text(block.group(1))
    (tmp_path / "key").write_text(KEY.hex() + "\n")
    for side in ("council", "gp"):
        result = runner.invoke(app, ["pprl", "encode", str(tmp_path / f"{side}.csv"),
                                     "--scheme", str(tmp_path / "scheme.yaml"),
                                     "--secret", str(tmp_path / "key"), "--source", side,
                                     "--out", str(tmp_path / f"{side}.jsonl")])  # fmt: skip
        assert result.exit_code == 0, result.output
    standalone = {
        "CIVICSHARE_DATA_DIR": str(tmp_path / "no-store"),
        "CIVICSHARE_DATABASE_URL": f"sqlite:///{tmp_path / 'no-store' / 'none.db'}",
    }

    def link(*options: str) -> tuple[str, list[str]]:
        out = tmp_path / ("run" + "".join(options))
        result = runner.invoke(app, ["pprl", "link", str(tmp_path / "council.jsonl"),
                                     str(tmp_path / "gp.jsonl"), "--threshold", str(THRESHOLD),
                                     "--out", str(out), "--no-audit", *options],
                               env=standalone)  # fmt: skip
        assert result.exit_code == 0, result.output
        lines = (out / "pairs.csv").read_text().splitlines()[1:]
        return result.output, [",".join(line.split(",")[1:4:2]) for line in lines]

    output, pairs = link()
    assert pairs == ["c-rhys,g-rhys"]
    assert "refused by the per-field checks" in output
    output, pairs = link("--no-checks", "--solver", "greedy")
    assert "c-hall-1,g-hall-2" in pairs and "refused" not in output


def test_encodings_whose_scheme_has_checks_but_carry_none_are_refused():
    a, b = encode([HALL_FATHER], "council"), encode([HALL_SON], "gp")
    a.checks = None
    with pytest.raises(pprl.PprlError, match="encodings of A carry none"):
        pprl.link(a, b, threshold=THRESHOLD)
    assert len(pprl.link(a, b, threshold=THRESHOLD, checks=False).i) == 1
