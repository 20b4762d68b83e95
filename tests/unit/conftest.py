"""Set-up for the unit tests, which run Django in the pytest process.

The pulpcore settings they use (database, media and working directories) are prepared in
``tests/conftest.py``, before Django starts; pytest-django creates the test database.
"""
