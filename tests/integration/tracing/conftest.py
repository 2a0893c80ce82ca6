"""Integration tracing tests start from no tracing and no inherited OTEL_* configuration."""

from support.tracing_fixtures import _no_otel_env  # noqa: F401  (autouse pytest fixture)
