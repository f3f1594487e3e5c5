"""civicshare: an information sharing gateway for local public-sector partnerships."""

__version__ = "0.1.0"
