"""An agreement from draft to the public register, in Chromium, with axe-core on every page."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from civicshare import db
from civicshare.accounts import service as accounts
from civicshare.partners import service as partners
from tests import browser
from tests.browser import axe_violations
from tests.conftest import TEST_PASSWORD

pytestmark = pytest.mark.browser

TITLE = "Hospital discharge to adult social care"


@pytest.fixture(scope="module", autouse=True)
def partnership(live_settings):
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        found = partners.upsert(
            session,
            [
                {"key": "worcs-acute", "name": "Worcestershire Acute Hospitals NHS Trust",
                 "type": "nhs_trust", "status": "endorsed"},
                {"key": "worcestershire-cc", "name": "Worcestershire County Council",
                 "type": "county_council", "status": "endorsed"},
                {"key": "hw-fire", "name": "Hereford & Worcester Fire and Rescue Service",
                 "type": "fire_and_rescue", "status": "endorsed"},
            ],
        )  # fmt: skip
        for partner in found:  # the register names each DPO; activation needs one
            partner.dpo_name, partner.dpo_email = (
                "Data Protection Officer",
                f"dpo@{partner.key}.example",
            )
        for partner, email, name in zip(
            found,
            ["ana@acute.example", "cal@county.example", "fay@fire.example"],
            ["Ana Ahmed", "Cal Brown", "Fay Green"],
            strict=True,
        ):
            person = partners.create_person(session, email=email, display_name=name)
            accounts.set_password(session, person, TEST_PASSWORD)
            partners.add_membership(session, person, partner, ["ig_lead"])
    engine.dispose()


def check(page) -> None:
    assert axe_violations(page) == [], page.url
    assert page.problems == [], page.url


def sign_in(page, server, email, next_path="/agreements"):
    browser.sign_in(page, server, email, TEST_PASSWORD, next_path)
    assert page.url == server + next_path


def sign_out(page):
    page.get_by_role("button", name="Sign out").click()


def fill_date(page, name, day: date):
    page.fill(f"#{name}-day", str(day.day))
    page.fill(f"#{name}-month", str(day.month))
    page.fill(f"#{name}-year", str(day.year))


def open_section(page, title):
    page.get_by_role("link", name=title, exact=True).click()
    check(page)


def save(page):
    page.click("#save")


def take_step(page, button, **fields):
    page.click(f"#action-{button}")
    check(page)
    for selector, value in fields.items():
        page.fill(selector, value)
    page.click("#confirm")
    page.locator("#done").wait_for()
    check(page)


def test_an_ig_lead_drafts_both_approve_the_group_endorses_and_the_register_lists_it(
    page, live_server
):
    today = date.today()
    sign_in(page, live_server, "ana@acute.example")
    assert page.locator("#no-agreements").is_visible()
    check(page)

    page.click("#new-agreement")
    check(page)
    page.click("#start")
    assert "Enter a title for the agreement" in page.locator(".govuk-error-summary").inner_text()
    check(page)
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("A blank agreement").check()
    page.click("#start")
    assert "You have completed 0 of 8 sections" in page.locator("#progress").inner_text()
    check(page)

    open_section(page, "Parties and controllers")
    page.select_option("#party-worcs-acute", "provider")
    page.select_option("#party-worcestershire-cc", "recipient")
    page.get_by_label("Separate controllers").check()
    save(page)

    open_section(page, "Purpose and necessity")
    page.get_by_label("Permitted purposes").fill(
        "discharge-planning: Plan care and support for an adult due to leave hospital."
    )
    page.get_by_label("Purpose of the sharing").fill(
        "Plan care and support for adults leaving hospital so they go home safely."
    )
    page.get_by_label("Why sharing is necessary").fill(
        "Social care cannot assess in time without knowing who is due to leave hospital."
    )
    page.get_by_label("Whose data is shared").fill("Adult inpatients resident in the county")
    save(page)

    open_section(page, "Lawful basis")
    page.get_by_label("Public task – Article 6(1)(e)").check()
    page.get_by_label("Statutory powers relied on").fill("Care Act 2014 s6")
    page.select_option("#article9", "h")
    page.check("input[name=schedule1][value='2']")
    save(page)

    open_section(page, "Data items")
    for column, special in (("NHS_NO", ""), ("DISCH_PATHWAY", "health")):
        page.select_option("#provider", "worcs-acute")
        page.get_by_label("Dataset").fill("acute-admissions")
        page.get_by_label("Column").fill(column)
        page.get_by_label("Identifiable").check()
        page.select_option("#special_category", special)
        save(page)
        check(page)
    assert page.locator("#items tbody tr").count() == 2
    page.click("#done")

    open_section(page, "Which records (row scope)")
    page.get_by_label("Which people's records are shared").fill(
        "Adults discharged on pathways 1 to 3 to an address in the county"
    )
    page.get_by_label("Youngest age in scope (optional)").fill("18")
    save(page)

    open_section(page, "Frequency, retention, security and rights")
    page.get_by_label("Daily").check()
    page.get_by_label("How long the recipient keeps it").fill("8 years in the care record")
    page.get_by_label("How it is deleted").fill("Deleted from the gateway after 30 days")
    page.get_by_label("Security measures").fill("Encrypted in transit and at rest; audited")
    page.get_by_label("How data subjects' rights are handled").fill(
        "Each controller answers requests about the data it holds"
    )
    save(page)

    open_section(page, "DPIA screening")
    for key in ("matching", "vulnerable", "special_at_scale", "invisible", "physical_harm",
                "innovative", "denial_of_service"):  # fmt: skip
        answer = "yes" if key in ("matching", "vulnerable") else "no"
        page.check(f"input[name='dpia-{key}'][value='{answer}']")
    page.get_by_label("DPIA outcome (if a DPIA is required)").fill(
        "Completed with both DPOs; residual risk low"
    )
    save(page)

    open_section(page, "Dates, review and emergencies")
    page.click("#save")  # nothing filled: the section stays incomplete, no error
    open_section(page, "Dates, review and emergencies")
    fill_date(page, "start_date", today)
    page.fill("#review_date-day", "31")
    page.fill("#review_date-month", "2")
    page.fill("#review_date-year", str(today.year + 1))
    save(page)
    assert "Review date must be a real date" in page.locator(".govuk-error-summary").inner_text()
    check(page)
    fill_date(page, "review_date", today + timedelta(days=365))
    page.check("input[name=emergency][value=no]")
    save(page)
    assert "You have completed 8 of 8 sections" in page.locator("#progress").inner_text()
    check(page)

    page.click("#check-answers")
    check(page)
    page.click("#submit")
    assert "Awaiting approvals" in page.locator("#status").inner_text()
    check(page)
    reference = page.locator(".govuk-caption-l").inner_text().split()[0]

    take_step(page, "approve", **{"#reason": "Agreed with our Caldicott guardian"})
    assert page.locator("#action-approve").count() == 0  # once per party
    sign_out(page)

    sign_in(page, live_server, "cal@county.example", f"/agreements/{reference}")
    check(page)
    take_step(page, "approve")
    assert "Awaiting IG group" in page.locator("#status").inner_text()
    assert page.locator("#action-endorse").count() == 0  # an approver cannot also endorse
    sign_out(page)

    # Fire is not a party, but its IG lead sits on the IG group and records its endorsement.
    sign_in(page, live_server, "fay@fire.example", f"/agreements/{reference}")
    page.click("#action-endorse")
    page.click("#confirm")
    summary = page.locator(".govuk-error-summary").inner_text()
    assert "Enter the date of the IG group meeting" in summary
    assert "Enter the minute reference of the decision" in summary
    check(page)
    fill_date(page, "meeting_date", today)
    page.fill("#minute_reference", "IGG/2026/11/4")
    page.click("#confirm")
    assert "Endorsed" in page.locator("#status").inner_text()
    assert page.locator("#action-activate").count() == 0  # not a party
    check(page)
    sign_out(page)

    sign_in(page, live_server, "cal@county.example", f"/agreements/{reference}")
    take_step(page, "activate")
    assert "Active" in page.locator("#status").inner_text()
    history = page.locator("#history").inner_text()
    for expected in ("submitted", "approved", "endorsed", "activated", "Fay Green"):
        assert expected in history

    page.click("#document")
    assert reference in page.locator("h1").inner_text()
    check(page)
    pdf = page.request.get(f"{live_server}/agreements/{reference}/document.pdf")
    assert pdf.body().startswith(b"%PDF")

    page.goto(live_server + "/agreements/review-due?within=400")
    assert reference in page.locator("#review-due").inner_text()
    check(page)
    page.goto(live_server + "/agreements?status=active")
    assert page.locator("#agreements tbody tr").count() == 1
    check(page)
    sign_out(page)

    # Residents read the register without signing in; it names organisations, not people.
    page.goto(live_server + "/register")
    assert page.url == live_server + "/register"
    entry = page.locator(f"#register-{reference}")
    text = page.locator("main").inner_text()
    assert TITLE in text and "Worcestershire Acute Hospitals NHS Trust" in entry.inner_text()
    assert "Public task – Article 6(1)(e)" in entry.inner_text()
    for name in ("Ana Ahmed", "Cal Brown", "Fay Green"):
        assert name not in text
    check(page)


def test_the_register_and_exports_are_accessible_to_the_right_people(
    page, live_server, live_settings
):
    response = page.goto(live_server + "/register")
    assert response.status == 200
    check(page)
    response = page.request.get(live_server + "/api/agreements")
    assert response.status == 401
    # The audit log's signed checkpoints, from the register, without signing in.
    from civicshare.audit import checkpoints, signing
    from civicshare.audit import service as audit

    signing.use_keys_dir(live_settings.effective_keys_dir)
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:
        audit.record(session, None, "register_read_in_a_test", "register")
        entry, _ = checkpoints.checkpoint_if_new(session)
    engine.dispose()
    page.goto(live_server + "/register")
    page.get_by_role("link", name="Signed checkpoints of the audit log").click()
    assert page.url == live_server + "/register/checkpoints"
    assert page.locator(f"#checkpoint-{entry.number}").is_visible()
    check(page)


def _active_agreement(live_settings) -> str:
    """An active agreement between the acute trust and the county, made through the service."""
    from sqlalchemy import select

    from civicshare.accounts.service import actor_for
    from civicshare.agreements import service
    from civicshare.partners.models import Membership, Person

    today = date.today()
    engine = db.make_engine(live_settings.effective_database_url)
    with db.session_scope(db.make_sessionmaker(engine)) as session:

        def actor(email):
            membership = session.scalars(
                select(Membership).join(Person).where(Person.email == email)
            ).one()
            return actor_for(membership, "cli")

        ana, cal = actor("ana@acute.example"), actor("cal@county.example")
        version = service.create_draft(
            session, ana, title="Discharge planning", template_key="hospital-discharge"
        )
        service.update_draft(
            session,
            ana,
            version,
            {"start_date": today, "review_date": today + timedelta(days=300),
             "dpia_outcome": "Completed; residual risk low"},
        )  # fmt: skip
        service.submit(session, ana, version, today=today)
        service.approve(session, ana, version)
        service.approve(session, cal, version)
        fay = actor("fay@fire.example")  # the IG group: neither drafted nor approved it
        service.endorse(session, fay, version, meeting_date=today, minute_reference="M7")
        service.activate(session, cal, version, today=today)
        reference = version.reference
    engine.dispose()
    return reference


def test_suspend_resume_amend_and_withdraw_in_the_browser(page, live_server, live_settings):
    reference = _active_agreement(live_settings)
    sign_in(page, live_server, "cal@county.example", f"/agreements/{reference}")
    check(page)

    page.click("#action-suspend")
    page.click("#confirm")
    assert "Enter the reason to suspend" in page.locator(".govuk-error-summary").inner_text()
    check(page)
    page.fill("#reason", "Breach under investigation")
    page.click("#confirm")
    assert "Suspended" in page.locator("#status").inner_text()
    check(page)
    take_step(page, "resume", **{"#reason": "Investigation closed"})
    assert "Active" in page.locator("#status").inner_text()

    page.click("#action-amend")
    page.click("#confirm")
    assert "Enter what the amendment changes" in page.locator(".govuk-error-summary").inner_text()
    check(page)
    page.fill("#reason", "Stop sharing the frailty score")
    page.click("#confirm")
    assert page.url.endswith(f"/agreements/{reference}/versions/2")
    assert "This version amends version 1" in page.locator("main").inner_text()
    check(page)
    open_section(page, "Data items")
    rows = page.locator("#items tbody tr")
    before = rows.count()
    page.get_by_role("button", name="Remove acute-admissions CFS_SCORE").click()
    assert rows.count() == before - 1
    check(page)

    page.goto(f"{live_server}/agreements/{reference}/versions/1")
    assert "Active" in page.locator("#status").inner_text()
    assert "Version 2 (draft) is being prepared" in page.locator("main").inner_text()
    check(page)
    page.goto(f"{live_server}/agreements/{reference}/versions/2/check")
    check(page)
    page.goto(f"{live_server}/agreements/{reference}")
    page.goto(f"{live_server}/agreements/{reference}/versions/2/do/withdraw")
    check(page)
    page.fill("#reason", "Frailty score stays: agreed at the IG group")
    page.click("#confirm")
    page.locator("#done").wait_for()
    assert "Withdrawn" in page.locator("#status").inner_text()
    assert "withdrawn (version 2)" in page.locator("#history").inner_text()
    page.goto(f"{live_server}/agreements/{reference}")
    assert "Active" in page.locator("#status").inner_text()
    check(page)


def _tab_to(page, element_id: str, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} was not reached with the Tab key")


def test_a_draft_is_started_with_the_keyboard_alone(page, live_server):
    sign_in(page, live_server, "ana@acute.example", "/agreements/new")
    _tab_to(page, "title")
    page.keyboard.type("Falls prevention referrals")
    _tab_to(page, "template")  # the first template's radio
    page.keyboard.press("Space")
    _tab_to(page, "start")
    page.keyboard.press("Enter")
    page.locator("#task-list").wait_for()
    assert "Falls prevention referrals" in page.locator("h1").inner_text()
    # The first section of the task list is a link reached by keyboard too.
    link = page.get_by_role("link", name="Parties and controllers", exact=True)
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/versions/1/parties")
    check(page)
