"""Data shipped with nativa: the sample sales database that `nativa run` answers from by default.

    from nativa.data import SAMPLE_DB, sample_db_url
    sample_db_url()   # 'sqlite:////.../nativa/data/sample.db'

The file is generated deterministically by `nativa.data.generate` (fixed seed), so answers never drift.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_DB = Path(__file__).with_name("sample.db")


def sample_db_url() -> str:
    """SQLAlchemy URL of the shipped sample database (customers, products, orders, order_items)."""
    return f"sqlite:///{SAMPLE_DB}"


__all__ = ["SAMPLE_DB", "sample_db_url"]
