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


@pytest.fixture(autouse=True)
def _no_remembered_users_or_tokens():
    """Every unit test starts without the user rows and tokens an earlier test left cached.

    Tests roll their users back, which no signal reports, and create users of the same names
    again with other primary keys.
    """
    from pulp_registry.app import credentials, users
    from pulp_registry.app.token.tokens import forget_verified_tokens

    for forget in (users.forget, forget_verified_tokens, credentials.clear_cache):
        forget()
    yield
