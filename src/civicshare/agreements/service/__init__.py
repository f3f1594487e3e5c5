"""Agreements: drafting, the lifecycle, amendments, expiry and the questions other domains ask.

Every change is recorded in the audit log in the caller's unit of work, naming the person, the
membership they acted as, and why. Nothing here knows about HTTP.

One module per concept, re-exported here so ``from civicshare.agreements import service`` keeps
working:

- ``errors``       AgreementError and its subclasses, each with an HTTP ``status``
- ``transitions``  the lifecycle as one table (TRANSITIONS) and the state groups
- ``queries``      reading: get, headline, who may view, the version in force, what covers a share
- ``permissions``  who may edit, amend and take each step
- ``drafting``     create and change drafts, parties and data items; amend
- ``lifecycle``    submit, approve, endorse, activate, suspend, resume, revoke, expire; perform
- ``register``     the public register and the record of processing (ROPA)
"""

from civicshare.agreements.service.drafting import (
    DATE_FIELDS,
    EDITABLE,
    ENUM_FIELDS,
    SCALAR_FIELDS,
    TEXT_FIELDS,
    add_data_item,
    amend,
    coerce_field,
    coerce_purposes,
    create_draft,
    item_dict,
    remove_data_item,
    set_data_items,
    set_parties,
    update_draft,
)
from civicshare.agreements.service.errors import (
    AgreementError,
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    SeparationOfDuties,
)
from civicshare.agreements.service.lifecycle import (
    activate,
    approve,
    check_step,
    endorse,
    expire_due,
    perform,
    reject,
    resume,
    revoke,
    submit,
    suspend,
    withdraw,
)
from civicshare.agreements.service.permissions import (
    FOUR_EYES,
    RELAXED,
    allowed_actions,
    duty_refusal,
    is_party_ig_lead,
    may_amend,
    may_edit,
    refuse_who,
    who_ok,
)
from civicshare.agreements.service.queries import (
    active_covering,
    active_version,
    active_versions,
    covers,
    get,
    get_for,
    headline,
    history,
    in_force,
    list_all,
    list_for,
    may_view,
    may_view_version,
    pending_amendment,
    review_due,
    version_for,
    version_of,
)
from civicshare.agreements.service.register import (
    ROPA_COLUMNS,
    dpia_summary,
    register_entries,
    ropa_rows,
)
from civicshare.agreements.service.transitions import (
    AMENDABLE,
    ENTITY,
    LIVE,
    PENDING,
    TRANSITIONS,
    S,
    Transition,
)

__all__ = [
    "AMENDABLE",
    "DATE_FIELDS",
    "EDITABLE",
    "FOUR_EYES",
    "RELAXED",
    "ENTITY",
    "ENUM_FIELDS",
    "LIVE",
    "PENDING",
    "ROPA_COLUMNS",
    "SCALAR_FIELDS",
    "TEXT_FIELDS",
    "TRANSITIONS",
    "AgreementError",
    "Conflict",
    "Invalid",
    "NotAllowed",
    "NotFound",
    "S",
    "SeparationOfDuties",
    "Transition",
    "activate",
    "active_covering",
    "active_version",
    "active_versions",
    "add_data_item",
    "allowed_actions",
    "amend",
    "approve",
    "check_step",
    "coerce_field",
    "coerce_purposes",
    "covers",
    "create_draft",
    "dpia_summary",
    "duty_refusal",
    "endorse",
    "expire_due",
    "get",
    "get_for",
    "headline",
    "history",
    "in_force",
    "is_party_ig_lead",
    "item_dict",
    "list_all",
    "list_for",
    "may_amend",
    "may_edit",
    "may_view",
    "may_view_version",
    "pending_amendment",
    "perform",
    "refuse_who",
    "register_entries",
    "reject",
    "remove_data_item",
    "resume",
    "review_due",
    "revoke",
    "ropa_rows",
    "set_data_items",
    "set_parties",
    "submit",
    "suspend",
    "update_draft",
    "version_for",
    "version_of",
    "who_ok",
    "withdraw",
]
