from tests.agreements.conftest import world  # noqa: F401  (a fixture)
