"""The tiny spec and its run live in tests/conftest.py (shared with the report tests)."""

from tests.conftest import TINY, comparable

__all__ = ["TINY", "comparable"]
