"""The synthetic county: a deterministic, realistic, messy county of residents and partner data.

Synthetic data only: every person, address, NHS number and phone number is generated. See
``docs/synthetic-county.md`` for the data dictionary.
"""

from .mess import MessRates
from .partnership import PARTNERS

__all__ = ["PARTNERS", "MessRates", "generate"]


def generate(*args, **kwargs):
    """Shortcut for :func:`civicshare.synthetic.service.generate`."""
    from .service import generate as _generate

    return _generate(*args, **kwargs)
