"""Hot /v2/ lookups whose SQL Django's ORM builds once per process instead of on every request.

Every /v2/ request finds the distribution behind its name, and listing tags reads one column of
the served version's tags. PostgreSQL answers those index lookups in a fraction of a
millisecond, while building their SQL costs the ORM a millisecond or more of CPU each time
(docs/performance.md). :class:`CompiledQuery` asks the ORM for the SQL of such a query once,
built with placeholder values, and afterwards runs that same SQL with the real values. The SQL
is still the ORM's own, so it follows the models and pulpcore's schema. A query whose values
cannot be found again among the SQL parameters (because the ORM transformed them) is simply
evaluated through the ORM every time.
"""

import threading
import uuid

from django.db import connections

_UNUSABLE = object()


class CompiledQuery:
    """A ``values_list()`` queryset whose SQL is built once and then run with other values.

    Only for querysets whose columns need no conversion by the ORM when they are read (strings,
    numbers, booleans, UUIDs): rows come straight from the database driver.

    Args:
        build: ``build(*values)`` returns the queryset for those values.
        kinds: the type of each value, ``str`` or ``uuid.UUID``; a placeholder of that type
            marks where the value lands among the query's parameters.
    """

    def __init__(self, build, *kinds):
        if any(kind not in (str, uuid.UUID) for kind in kinds):
            raise ValueError("values must be str or uuid.UUID")
        self._build = build
        self._kinds = kinds
        self._compiled = None
        self._lock = threading.Lock()

    def _compile(self):
        markers = [
            uuid.uuid4() if kind is uuid.UUID else f"\0{uuid.uuid4().hex}\0" for kind in self._kinds
        ]
        queryset = self._build(*markers)
        sql, params = queryset.query.sql_with_params()
        params = list(params)
        places = []
        for marker in markers:
            found = [i for i, p in enumerate(params) if type(p) is type(marker) and p == marker]
            if not found:
                return _UNUSABLE
            places.append(found)
        return sql, params, places, queryset.db

    def rows(self, *values):
        """Run the query for ``values``.

        Returns:
            list[tuple]: the rows, as ``values_list()`` would give them.
        """
        if len(values) != len(self._kinds):
            raise TypeError(f"expected {len(self._kinds)} values, got {len(values)}")
        compiled = self._compiled
        if compiled is None:
            with self._lock:
                if self._compiled is None:
                    self._compiled = self._compile()
                compiled = self._compiled
        if compiled is _UNUSABLE:
            return [tuple(row) for row in self._build(*values)]
        sql, template, places, alias = compiled
        params = list(template)
        for value, positions in zip(values, places):
            for position in positions:
                params[position] = value
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


class QueryShapes:
    """The compiled queries of one lookup in its several shapes (a page size, a number of
    values), each compiled on first use.

    Clients use few shapes; past ``limit`` of them an odd one is still answered, compiled each
    time but not remembered.

    Args:
        make: ``make(*shape)`` returns the :class:`CompiledQuery` of that shape.
        limit: how many shapes to remember.
    """

    def __init__(self, make, limit=64):
        self._make = make
        self._limit = limit
        self._queries = {}

    def __call__(self, *shape):
        query = self._queries.get(shape)
        if query is None:
            query = self._make(*shape)
            if len(self._queries) < self._limit:
                self._queries[shape] = query
        return query
