"""Shared fixtures: the real Jena data from ../shared/data (never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
JENA_2020 = Path(os.environ.get("EDGECAST_TEST_DATA", REPO.parent / "shared" / "data" / "weather.csv.xz"))


@pytest.fixture(scope="session")
def jena_2020_path() -> Path:
    if not JENA_2020.exists():
        pytest.fail(f"the real Jena 2020 file is required at {JENA_2020} (../shared/data beside the clone)")
    return JENA_2020


@pytest.fixture(scope="session")
def series_2020(jena_2020_path):
    from edgecast.data import load
    return load(jena_2020_path)


def require(condition: bool, reason: str) -> None:
    """Skip when an optional part is missing locally; in CI (EDGECAST_REQUIRE_ALL=1) fail."""
    if condition:
        return
    if os.environ.get("EDGECAST_REQUIRE_ALL") == "1":
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)
