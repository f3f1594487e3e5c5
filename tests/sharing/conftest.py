"""Governed sharing tests reuse the agreements tests' small partnership."""

from tests.agreements.conftest import world  # noqa: F401  (a fixture)
