"""What every agreements page shares: a version's address. (A refusal the pages do not answer
themselves, an AgreementError, is shown on the error page by civicshare.errors.)"""

from __future__ import annotations


def url_of(version) -> str:
    return f"/agreements/{version.reference}/versions/{version.number}"
