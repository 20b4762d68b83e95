"""The one exception type the launcher raises for problems a user can fix.

Its message is a single line meant to be shown as is (``pulp-registry: error: ...``),
without a traceback; ``details`` may carry the end of a log that explains it.
"""

from typing import Optional


class LauncherError(Exception):
    """A problem that stops the registry from starting or running, told in one line.

    Args:
        message: One line saying what went wrong and, where possible, what to do.
        details: Optional extra lines (e.g. a log excerpt) shown before the message.
    """

    def __init__(self, message: str, details: Optional[str] = None):
        super().__init__(message)
        self.details = details
