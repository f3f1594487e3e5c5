"""The lifecycle of an agreement version, as one table of transitions."""

from __future__ import annotations

from dataclasses import dataclass

from civicshare.agreements.models import Status

ENTITY = "agreement"

# Who may take a step:
#   editor          an IG lead of the drafting partner or of a party, while the version is a draft
#   party_ig_lead   an IG lead acting for a party to this version
#   ig_group        an IG lead of any partner, recording the IG group's decision; under
#                   four-eyes separation of duties (permissions.duty_refusal) one who neither
#                   drafted, submitted nor approved the version
#   system          the gateway itself (expiry, superseding)


@dataclass(frozen=True)
class Transition:
    action: str
    from_states: frozenset[Status]
    to: Status | None  # None: the step decides (an approval may or may not complete the round)
    who: str
    needs_reason: bool
    audit_action: str
    button: str


def _t(action, sources, to, who, needs_reason, audit_action, button) -> Transition:
    return Transition(action, frozenset(sources), to, who, needs_reason, audit_action, button)


S = Status
TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in [
        _t("submit", [S.draft], S.submitted, "editor", False, "agreement_submitted", "Submit"),
        _t(
            "withdraw",
            [S.draft, S.submitted],
            S.withdrawn,
            "editor",
            True,
            "agreement_withdrawn",
            "Withdraw",
        ),  # fmt: skip
        _t(
            "approve", [S.submitted], None, "party_ig_lead", False, "agreement_approved", "Approve"
        ),  # fmt: skip
        _t(
            "reject",
            [S.submitted],
            S.draft,
            "party_ig_lead",
            True,
            "agreement_rejected",
            "Return to draft",
        ),  # fmt: skip
        _t(
            "endorse",
            [S.approved],
            S.endorsed,
            "ig_group",
            False,
            "agreement_endorsed",
            "Record IG group endorsement",
        ),  # fmt: skip
        _t(
            "activate",
            [S.endorsed],
            S.active,
            "party_ig_lead",
            False,
            "agreement_activated",
            "Activate",
        ),  # fmt: skip
        _t(
            "suspend",
            [S.active],
            S.suspended,
            "party_ig_lead",
            True,
            "agreement_suspended",
            "Suspend",
        ),  # fmt: skip
        _t(
            "resume", [S.suspended], S.active, "party_ig_lead", True, "agreement_resumed", "Resume"
        ),  # fmt: skip
        _t(
            "revoke",
            [S.approved, S.endorsed, S.active, S.suspended],
            S.revoked,
            "party_ig_lead",
            True,
            "agreement_revoked",
            "Revoke",
        ),  # fmt: skip
        _t(
            "expire",
            [S.active, S.suspended],
            S.expired,
            "system",
            True,
            "agreement_expired",
            "Expire",
        ),  # fmt: skip
        _t(
            "supersede",
            [S.active, S.suspended],
            S.superseded,
            "system",
            False,
            "agreement_superseded",
            "Supersede",
        ),  # fmt: skip
    ]
}
# Versions that may still be in force or become so; an amendment can start from these.
AMENDABLE = frozenset({S.active, S.suspended, S.expired})
LIVE = frozenset({S.active, S.suspended})
PENDING = frozenset({S.draft, S.submitted, S.approved, S.endorsed})
