"""The one error the dashboard shows in its page: what is wrong and how to fix it, never a traceback."""

from __future__ import annotations


class DashboardError(ValueError):
    """A checkpoint, forecast, dataset or choice the dashboard cannot use; the message names the fix."""
