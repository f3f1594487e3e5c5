"""Row conditions on the agreement side: validation against the dataset's contract, the API
and the page form that draft them, and the document and register that state them in words
from the policy the data plane enforces."""
# ruff: noqa: E501  (tables of cases read best one per line)

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from civicshare import db, demo
from civicshare.agreements import conditions, documents, service
from civicshare.agreements.validation import validate
from civicshare.app import create_app
from civicshare.config import Settings
from civicshare.dataplane.grant import conditions_for
from civicshare.datasets.contracts import example_contracts
from tests.agreements.test_api import token
from tests.agreements.test_pages import HTML, signed_in
from tests.agreements.test_validation import START, item, valid
from tests.conftest import demo_store, post_sign_in, sqlite_settings

ACUTE = ("worcs-acute", "acute-admissions")
CONTRACT = next(c for c in example_contracts() if (c.partner, c.name) == ACUTE)
COLUMNS = {ACUTE: {c.name: c for c in CONTRACT.columns}}
PATHWAYS = {"provider": ACUTE[0], "dataset": ACUTE[1], "column": "DISCH_PATHWAY", "op": "in", "values": ["1", "2", "3"]}  # fmt: skip


def problems_with(*condition: dict, columns=COLUMNS) -> list[str]:
    version = valid()
    version.data_items.append(item("DISCH_PATHWAY", special="health"))
    version.row_scope = {**version.row_scope, "conditions": list(condition)}
    return [
        p.message for p in validate(version, today=START, columns=columns) if p.field == "row_scope"
    ]


def on(column: str, op: str, **fields) -> dict:
    return {"provider": ACUTE[0], "dataset": ACUTE[1], "column": column, "op": op, **fields}


# -- validation --------------------------------------------------------------------------------


def test_conditions_that_fit_the_contract_pass():
    assert (
        problems_with(
            PATHWAYS,
            on("SEX", "equals", values=["F"]),
            on("CFS_SCORE", "between", low=5, high="9"),
            on("LOS_DAYS", "between", low=None, high=30),
            on("ADMIT_DT", "between", low="2026-01-01 00:00", high=None),
            on("READMIT_30D", "equals", values=["no"]),
            on("DISCH_DT", "is_not_null"),
        )
        == []
    )


@pytest.mark.parametrize(
    "condition, message",
    [
        (
            {**PATHWAYS, "provider": "worcestershire-cc", "dataset": "asc-clients"},
            "The row condition on DISCH_PATHWAY is on worcestershire-cc/asc-clients, but the agreement has no data items from that dataset",
        ),
        (
            on("PATHWAY", "in", values=["1"]),
            "The row condition on PATHWAY: acute-admissions has no column PATHWAY",
        ),
        (
            on("DISCH_PATHWAY", "roughly", values=["1"]),
            "The row condition on DISCH_PATHWAY has an unknown operation 'roughly'",
        ),
        (
            on("DISCH_PATHWAY", "in", values=[]),
            "The row condition on DISCH_PATHWAY lists no values: give at least one",
        ),
        (
            on("SEX", "equals", values=["F", "M"]),
            "The row condition on SEX needs exactly one value to equal, not 2",
        ),
        (
            on("CFS_SCORE", "between"),
            "The row condition on CFS_SCORE needs a lowest value, a highest value or both",
        ),
        (
            on("CFS_SCORE", "between", low=9, high=5),
            "The row condition on CFS_SCORE runs from 9 to 5: the lowest value is above the highest",
        ),
        (
            on("CFS_SCORE", "in", values=["5", "high"]),
            "The row condition on CFS_SCORE has the value 'high', which is not a whole number (the type of CFS_SCORE is integer)",
        ),
        (
            on("ADMIT_DT", "between", low="last week"),
            "The row condition on ADMIT_DT has the value 'last week', which is not a date and time such as 2027-03-31 14:00",
        ),
        (
            on("READMIT_30D", "equals", values=["maybe"]),
            "The row condition on READMIT_30D has the value 'maybe', which is not yes or no",
        ),
    ],
)
def test_each_bad_condition_is_refused_saying_which_and_why(condition, message):
    found = problems_with(condition)
    assert len(found) == 1 and found[0].startswith(message), found


def test_without_a_registered_contract_only_the_shape_is_checked():
    """The data plane refuses a column the snapshot cannot check when it runs."""
    assert problems_with(on("ANY_COLUMN", "in", values=["x"]), columns={}) == []
    assert problems_with(on("ANY_COLUMN", "between", low=9, high=5), columns={}) == [
        "The row condition on ANY_COLUMN runs from 9 to 5: the lowest value is above the highest"
    ]


# -- the page's syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, stored",
    [
        ("worcs-acute/acute-admissions: DISCH_PATHWAY in 1, 2, 3", PATHWAYS),
        ("SEX = F", on("SEX", "equals", values=["F"])),
        ("CFS_SCORE between 5 and 9", on("CFS_SCORE", "between", low="5", high="9")),
        ("LOS_DAYS at least 3", on("LOS_DAYS", "between", low="3", high=None)),
        ("LOS_DAYS at most 30", on("LOS_DAYS", "between", low=None, high="30")),
        ("DISCH_DT is empty", on("DISCH_DT", "is_null")),
        ("DISCH_DT IS RECORDED", on("DISCH_DT", "is_not_null")),
        (
            'SPECIALTY in "Care of the elderly, general", Stroke',
            on("SPECIALTY", "in", values=["Care of the elderly, general", "Stroke"]),
        ),
    ],
)
def test_the_syntax_reads_each_form_and_writes_it_back(line, stored):
    parsed = conditions.parse_line(line, 1, ACUTE)
    assert parsed == stored
    assert conditions.parse_line(conditions.condition_line(parsed), 1, None) == stored


def test_unreadable_lines_are_named():
    text = "DISCH_PATHWAY in 1, 2\n\nDISCH_PATHWAY roughly 3\nSEX =\nCFS_SCORE in"
    parsed, problems = conditions.parse_text(text, ACUTE)
    assert parsed == [on("DISCH_PATHWAY", "in", values=["1", "2"])]
    assert [p.split(" (")[0] for p in problems] == ["Line 3", "Line 4", "Line 5"]
    assert "is not a condition" in problems[0] and "give a value after =" in problems[1]
    _, problems = conditions.parse_text("SEX = F", None)
    assert problems[0].startswith("Line 1 (“SEX = F”): start with the provider and dataset")


# -- drafting through the API and the page ---------------------------------------------------


def test_the_api_takes_and_gives_back_conditions(settings, engine, sessions, world):
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        headers = token(sessions, world.acute)
        ref = client.post(
            "/api/agreements",
            headers=headers,
            json={"title": "Discharge planning", "template": "hospital-discharge"},
        ).json()["reference"]
        url = f"/api/agreements/{ref}/versions/1"
        assert client.get(url, headers=headers).json()["row_scope"]["conditions"] == [PATHWAYS]
        scope = {
            "min_age": 18,
            "description": "Adults",
            "conditions": [PATHWAYS, on("CFS_SCORE", "between", low=5, high=None)],
        }
        changed = client.patch(url, headers=headers, json={"row_scope": scope})
        assert changed.status_code == 200, changed.text
        assert changed.json()["row_scope"]["conditions"] == [
            PATHWAYS,
            on("CFS_SCORE", "between", low=5, high=None),
        ]
        refused = client.patch(
            url, headers=headers, json={"row_scope": {"conditions": [on("SEX", "roughly")]}}
        )
        assert refused.status_code == 422 and "op" in refused.text


def test_the_form_reads_conditions_names_bad_lines_and_shows_them_back(
    settings, engine, sessions, world
):
    app = create_app(settings)
    client, csrf = signed_in(app, sessions, world.acute)
    with db.session_scope(sessions) as session:
        version = service.create_draft(
            session, world.acute, title="Discharge", template_key="hospital-discharge"
        )
        base = f"/agreements/{version.reference}/versions/1"
    form = client.get(f"{base}/scope", headers=HTML).text
    assert "worcs-acute/acute-admissions: DISCH_PATHWAY in 1, 2, 3" in form
    fields = {"csrf_token": csrf, "description": "Adults leaving hospital", "min_age": "18"}
    bad = client.post(
        f"{base}/scope",
        data={**fields, "conditions": "DISCH_PATHWAY in 1, 2\nSEX roughly F"},
        headers=HTML,
    )
    assert bad.status_code == 400
    assert "Line 2 (“SEX roughly F”) is not a condition" in bad.text.replace("&#34;", '"')
    assert 'href="#conditions"' in bad.text
    saved = client.post(
        f"{base}/scope",
        data={**fields, "conditions": "DISCH_PATHWAY in 1, 2\nCFS_SCORE at least 5"},
        headers=HTML,
    )
    assert saved.status_code == 303
    with db.session_scope(sessions) as session:
        stored = service.get(session, version.reference).versions[0].row_scope
    assert stored["conditions"] == [
        on("DISCH_PATHWAY", "in", values=["1", "2"]),
        on("CFS_SCORE", "between", low="5", high=None),
    ]
    assert stored["min_age"] == 18 and stored["description"] == "Adults leaving hospital"
    shown = client.get(f"{base}/scope", headers=HTML).text
    assert "worcs-acute/acute-admissions: CFS_SCORE at least 5" in shown


# -- the ISA-0001 pathway condition in the demo store, in words ------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Settings:
    return demo_store(sqlite_settings(tmp_path_factory.mktemp("county") / "data"))


@pytest.fixture(scope="module")
def demo_client(store):
    with TestClient(create_app(store)) as client:
        yield client


PATHWAY_IN_WORDS = "Discharge pathway is one of 1, 2, 3"


def test_the_template_condition_reaches_the_grant_and_passes_validation(store):
    engine = db.make_engine(store.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            version = service.headline(service.get(session, "ISA-0001"))
            assert conditions_for(version.row_scope, *ACUTE)[0].values == ("1", "2", "3")
            assert validate(version) == []
            sections = dict(documents.document_sections(version))
    finally:
        engine.dispose()
    items = dict(sections["4. Data items"])[
        "Worcestershire Acute Hospitals NHS Trust: acute-admissions"
    ]
    assert "NHS number (NHS_NO): shared as is\n" in items
    assert (
        "Hospital specialty (SPECIALTY): withheld (not shared); special category: health" in items
    )
    assert "Discharge pathway (DISCH_PATHWAY): shared as is; special category: health" in items
    records = dict(sections["5. Which records"])
    assert records["Records of acute-admissions shared"] == (
        f"Only records where {PATHWAY_IN_WORDS}; and the person is aged 18 or over"
    )
    assert records["Counts"].startswith(
        "Any count the gateway delivers is protected: counts from 1 to 7 are shown as *, and other counts are rounded to the nearest 5"
    )
    assert "Records shared (explanation, not a restriction)" in records


def test_the_document_and_check_answers_pages_say_it(demo_client):
    assert (
        post_sign_in(
            demo_client, "analyst@worcestershire-cc.example", demo.DEMO_PASSWORD
        ).status_code
        == 303
    )
    page = demo_client.get("/agreements/ISA-0001/document", headers=HTML)
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert f"Only records where {PATHWAY_IN_WORDS}; and the person is aged 18 or over" in text
    assert "Discharge pathway (DISCH_PATHWAY): shared as is" in text
    assert "Records shared (explanation, not a restriction)" in text
    check = demo_client.get("/agreements/ISA-0001/versions/1/check", headers=HTML)
    assert check.status_code == 200
    assert PATHWAY_IN_WORDS in re.sub(r"\s+", " ", check.text)
    demo_client.cookies.clear()


def test_the_public_register_says_it_on_the_page_and_in_the_csv(demo_client):
    demo_client.cookies.clear()
    page = re.sub(r"\s+", " ", demo_client.get("/register", headers=HTML).text)
    assert (
        f"Worcestershire Acute Hospitals NHS Trust: acute-admissions – Only records where {PATHWAY_IN_WORDS}"
        in page
    )
    assert "Which records (explanation, not a restriction)" in page
    rows = list(csv.DictReader(io.StringIO(demo_client.get("/register.csv").text)))
    discharge = next(r for r in rows if r["Reference"] == "ISA-0001")
    assert PATHWAY_IN_WORDS in discharge["Which records are shared"]
    assert (
        "Discharge pathway (DISCH_PATHWAY): shared as is"
        in discharge["Data items and how each is treated"]
    )
    assert discharge["Counts"].startswith("Any count the gateway delivers is protected")
