"""Shared fixtures: the real Jena data from ../shared/data (never downloaded)."""

from __future__ import annotations

import ast
import copy
import os
from pathlib import Path

import pytest

from edgecast import protocol

REPO = Path(__file__).resolve().parent.parent
JENA_2020 = Path(os.environ.get("EDGECAST_TEST_DATA", REPO.parent / "shared" / "data" / "weather.csv.xz"))


# The fast tier, `pytest -m "not slow"`, is the in-process tests: no training, no
# TensorFlow, no broker or daemon process. Tests that use these fixtures are slow by
# definition; the others that train, convert or spawn carry @pytest.mark.slow (or a
# module-level pytestmark) themselves.
SLOW_FIXTURES = {"broker", "tls_broker", "daemons", "subscriber", "series_years"}


def _whole_module_is_slow(path: Path) -> bool:
    """True when the file sets `pytestmark = pytest.mark.slow` at its top level."""
    for node in ast.parse(path.read_text()).body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets)
                and ast.unparse(node.value) == "pytest.mark.slow"):
            return True
    return False


def pytest_ignore_collect(collection_path, config):
    # The fast tier never runs a slow module's tests, so it need not import the module
    # either: importing the training and export modules loads TensorFlow (about 8 s).
    if (config.getoption("markexpr") == "not slow" and collection_path.suffix == ".py"
            and collection_path.name.startswith("test_") and _whole_module_is_slow(collection_path)):
        return True
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


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

DATA_DIR = JENA_2020.parent
YEARS_FILES = protocol.YEARS_FILES


def _read_real_files_once() -> None:
    """Each real file of DATA_DIR is parsed once per test session: ``read_file`` is pure (no
    logging, no state), so later reads get a deep copy of the first one's Series. In-process
    tests read the same few files about 80 times; any other path is read as always."""
    from edgecast.data import jena
    parse, parsed = jena.read_file, {}

    def read_file(path, timezone=None):
        path = Path(path)
        try:
            key = (path.resolve(), path.stat().st_mtime_ns, timezone)
        except OSError:
            return parse(path, timezone)
        if DATA_DIR.resolve() not in key[0].parents:
            return parse(path, timezone)
        if key not in parsed:
            parsed[key] = parse(path, timezone)
        return copy.deepcopy(parsed[key])

    jena.read_file = read_file


_read_real_files_once()


def shared_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.fail(f"the real Jena file is required at {path} (../shared/data beside the clone)")
    return path


@pytest.fixture(scope="session")
def series_years():
    """All five files of ../shared/data joined: 2009–2016 hourly … 2022."""
    from edgecast.data import load
    return load([shared_file(n) for n in YEARS_FILES])
