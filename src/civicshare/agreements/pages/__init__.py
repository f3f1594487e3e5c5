"""Agreements in the browser: GOV.UK task list to draft, check answers to submit, a page per
agreement with the steps each person may take, documents, exports and the public register.

One module per part, each with its own router, included here in the order the routes were
always matched (fixed paths such as /agreements/new before /agreements/{reference}; /check
and /do/{action} before a version's /{section}):

- ``lists``      the list, a new draft, reviews due, the record of processing exports
- ``lifecycle``  an agreement's page, a version's task list, check answers, steps, amending
- ``drafting``   a task list section's form and saving it, removing a data item
- ``document``   the agreement document, as a page and a PDF
- ``register``   the public transparency register
- ``forms`` and ``common``: the form field specs and what every page shares
"""

from fastapi import APIRouter

from civicshare.agreements.pages import document, drafting, lifecycle, lists, register
from civicshare.agreements.pages.forms import changes_for, parse, section_fields
from civicshare.agreements.pages.lifecycle import STEP_FIELDS
from civicshare.agreements.pages.lists import ROPA_FORMATS

router = APIRouter(include_in_schema=False)
for part in (lists, lifecycle, drafting, document, register):
    router.include_router(part.router)

__all__ = ["ROPA_FORMATS", "STEP_FIELDS", "changes_for", "parse", "router", "section_fields"]
