from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from civicshare.synthetic.cli import synth


def app() -> typer.Typer:
    a = typer.Typer()
    a.command("synth")(synth)

    @a.command("noop")
    def noop() -> None:  # a second command keeps "synth" a named subcommand
        pass

    return a


def test_synth_command_writes_a_county(tmp_path):
    out = tmp_path / "county"
    result = CliRunner().invoke(
        app(),
        [
            "synth",
            "--people",
            "300",
            "--seed",
            "3",
            "--out",
            str(out),
            "--quiet",
            "--rate",
            "typo=0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["people"] == 300 and manifest["seed"] == 3
    assert manifest["mess_rates"]["typo"] == 0.1
    assert "datasets" in result.output and "gp-registrations" in result.output


def test_synth_rejects_a_bad_rate(tmp_path):
    result = CliRunner().invoke(
        app(), ["synth", "--people", "300", "--out", str(tmp_path), "--rate", "bogus=1"]
    )
    assert result.exit_code != 0
    assert "bogus" in result.output
