"""Set-up for the unit tests, which run Django in the pytest process.

The pulpcore settings they use (database, media and working directories) are prepared in
``tests/conftest.py``, before Django starts; pytest-django creates the test database.
"""

import pytest

from tests.unit.authutil import no_stale_current_user  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def _fresh_current_user(no_stale_current_user):  # noqa: F811
    """Every unit test starts without pulpcore's "current user" of an earlier test."""
    yield
