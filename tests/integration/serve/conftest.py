"""Server fixtures (shared with the other serve suite, see support/serve_fixtures.py)."""

from support.serve_fixtures import settings, spans  # noqa: F401  (pytest fixtures)
