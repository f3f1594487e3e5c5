"""Server-rendered pages: Jinja2 with GOV.UK Frontend components."""

from pathlib import Path

WEB_DIR = Path(__file__).parent
STATIC_DIR = WEB_DIR / "static"  # built by `make assets` from registry packages; not in git
