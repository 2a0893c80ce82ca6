"""Server fixtures (shared with the serve suites, see support/serve_fixtures.py)."""

from support.serve_fixtures import settings, spans  # noqa: F401  (pytest fixtures)
