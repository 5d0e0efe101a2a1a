import pytest

from tests.geo.factories import clear_geo_keys


@pytest.fixture(autouse=True)
async def geo_keys(db):
    """The geo namespace starts empty in every test (real Redis is shared by the run)."""
    await clear_geo_keys()
    yield
