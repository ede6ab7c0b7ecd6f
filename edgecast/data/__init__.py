"""Reading the Jena station files (numpy only; no pandas on the device)."""

from .jena import DataError, Series, load, read_file

__all__ = ["DataError", "Series", "load", "read_file"]
