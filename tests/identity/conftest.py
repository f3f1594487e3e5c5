from tests.datasets.conftest import county, seeded  # noqa: F401
