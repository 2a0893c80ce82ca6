"""Helpers shared by the tests (servers on loopback, fake weight parts)."""
