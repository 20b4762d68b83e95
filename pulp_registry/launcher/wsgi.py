"""The WSGI application of the registry's API server (pulpcore's, with our plugin's URLs).

``pulpcore.app.wsgi`` refuses to load outside pulpcore's own ``pulpcore-api`` command, which
marks the load through a context variable. The launcher serves the same application under
gunicorn with its own worker class (see ``gunicorn_worker``), so it sets that mark itself.
"""

from pulpcore.app.entrypoint import using_pulp_api_worker

_token = using_pulp_api_worker.set(True)
try:
    from pulpcore.app.wsgi import application
finally:
    using_pulp_api_worker.reset(_token)

__all__ = ["application"]
