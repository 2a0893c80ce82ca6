"""The SQL and HTTP walls of the tools, for other packages to reuse (the review policy) without copying them.

The same parser that refuses a write at call time classifies it at review time, and the same allow-list
entry syntax (`example.com`, `example.com:8443`, `*.example.com`) means the same hosts in both places.
"""

from __future__ import annotations

from nativa.tools._netguard import HostRule, normalize_host
from nativa.tools._sqlguard import _WRITE_ROOTS as WRITE_STATEMENTS
from nativa.tools._sqlguard import DIALECTS, CheckedSQL, SQLRefused, check_sql

__all__ = ["DIALECTS", "WRITE_STATEMENTS", "CheckedSQL", "HostRule", "SQLRefused", "check_sql", "normalize_host"]
