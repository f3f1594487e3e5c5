"""Clerical review in Chromium: an IG lead opens the queue, sees a pair side by side with its
match-weight waterfall, accepts it, and the two records' person keys merge. axe-core on each
page."""

from __future__ import annotations

import re

import pytest

from civicshare import db, demo
from civicshare.linkage import service as index
from tests.browser import axe_violations
from tests.conftest import demo_store

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def county(live_settings):
    # The demo builds the person index over its datasets at the end of prepare(); a small
    # county leaves few pairs in doubt, so score it again with a wide grey zone.
    demo_store(live_settings, people=500, seed=11)
    engine = db.make_engine(live_settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            assert index.status(session, live_settings).records > 0
            index.run(session, live_settings, retrain=True, review_lower=0.02)
    finally:
        engine.dispose()


def check(page) -> None:
    assert axe_violations(page) == []
    assert page.problems == []


def keys_of(settings, item_id: int) -> tuple[str, str]:
    engine = db.make_engine(settings.effective_database_url)
    try:
        with db.session_scope(db.make_sessionmaker(engine)) as session:
            item = index.get_item(session, item_id)
            left = index.person_keys_of(session, item.source_l)[item.record_id_l]
            right = index.person_keys_of(session, item.source_r)[item.record_id_r]
    finally:
        engine.dispose()
    return left, right


def test_an_ig_lead_accepts_a_pair_and_the_keys_merge(page, live_server, live_settings):
    page.goto(live_server + "/sign-in?next=/")
    page.get_by_label("E-mail address").fill("admin@worcestershire-cc.example")
    page.get_by_label("Password", exact=True).fill(demo.DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Person index").click()
    assert page.get_by_role("heading", name="Person index", level=1).is_visible()
    status = page.locator("#index-status").inner_text()
    assert "Nothing: every current snapshot is linked" in status
    check(page)

    page.locator("#index-status").get_by_role("link").filter(has_text="pairs").click()
    assert page.url.endswith("/index/review")
    check(page)

    first = page.locator("#queue tbody tr").first
    link = first.get_by_role("link")
    item_id = int(re.search(r"(\d+)$", link.inner_text()).group(1))
    before = keys_of(live_settings, item_id)
    assert before[0] != before[1]
    link.click()
    assert page.get_by_role("heading", name="Are these the same person?").is_visible()
    records = page.locator("#records")
    headers = records.locator("thead th").all_inner_texts()
    assert len(headers) == 4 and all(k in " ".join(headers) for k in before)
    assert records.locator("tbody tr").count() >= 3  # names, date of birth, address ...
    waterfall = page.locator("#waterfall tbody tr")
    assert waterfall.first.inner_text().startswith("Prior")
    assert waterfall.count() >= 3
    assert page.locator("#waterfall svg rect").count() == waterfall.count()
    check(page)

    # No choice: the form says so.
    page.get_by_role("button", name="Save decision").click()
    assert "Select whether" in page.locator(".govuk-error-summary").inner_text()
    check(page)

    page.get_by_label("Accept: the same person").check()
    page.get_by_label("Why (optional)").fill("Same date of birth and address; name misspelt")
    page.get_by_role("button", name="Save decision").click()
    assert page.url.endswith(f"/index/review?decided={item_id}")
    assert f"Pair {item_id} accepted" in page.locator("#decided").inner_text()
    assert page.get_by_role("link", name=f"Review pair {item_id}", exact=True).count() == 0
    check(page)

    after = keys_of(live_settings, item_id)
    assert after[0] == after[1] and after[0] in before

    # The run that scored this pair, with its report's estimates.
    page.goto(live_server + "/index")
    page.locator("#runs tbody tr").first.get_by_role("link").click()
    assert page.get_by_role("heading", name=re.compile(r"Linkage run \d+")).is_visible()
    assert "Estimated precision" in page.locator("#report-summary").inner_text()
    check(page)
