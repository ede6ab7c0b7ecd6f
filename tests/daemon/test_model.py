"""The daemon with the real bundled model: it serves once the window is full, its
forecasts equal the model's predictions on the reference protocol's windows, and a
broken replacement model on SIGHUP keeps the running one."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from edgecast import protocol
from edgecast.solar import JENA
from edgecast.forecaster import DEFAULT_BUNDLE

from harness.processes import replay, wait_until
from tests.conftest import require

TOPICS = ["edgecast/jena/forecast", "edgecast/jena/stats", "edgecast/jena/status"]
# Another bundle can be tried with EDGECAST_TEST_BUNDLE=path; by default the shipped one.
BUNDLE = Path(os.environ.get("EDGECAST_TEST_BUNDLE", DEFAULT_BUNDLE))


@pytest.fixture(scope="module")
def forecaster():
    require(BUNDLE.exists(), f"no bundled model at {BUNDLE}")
    from edgecast.forecaster import load_forecaster
    return load_forecaster(BUNDLE)


def test_model_serves_and_equals_its_predictions_on_protocol_windows(broker, daemons, subscriber, tmp_path,
                                                                     jena_2020_path, series_2020, forecaster):
    sub = subscriber(broker, TOPICS)
    # Without [model] path the daemon serves the bundle shipped in the package.
    daemon = daemons(broker, extra="" if BUNDLE == DEFAULT_BUNDLE else f'[model]\npath = "{BUNDLE}"\n').start()
    sub.wait_online()
    replay(broker, jena_2020_path, "2020-03-01T00:00:00", 124)
    forecasts = sub.wait_for("edgecast/jena/forecast", 124, 60)
    warm, served = forecasts[:119], forecasts[119:]
    assert all(f["source"] == "naive" and f["reason"].startswith("warming up") for f in warm)
    assert [f["source"] for f in served] == ["model"] * 5, [f["reason"] for f in served]
    assert served[0]["issued_at"] == "2020-03-05T23:00:00Z"  # the first full window: 120 hours
    assert served[0]["model"]["sha256"] == forecaster.identity["sha256"]

    times, values = series_2020.times, series_2020.values
    for f in served:
        last = int(np.searchsorted(times, np.datetime64(f["issued_at"].rstrip("Z"), "s")))
        rows = protocol.step_rows(np.array([last - protocol.span_rows()]))[0]
        expected = forecaster.forecast(values[rows], times[rows], JENA)  # no [station] location: Jena assumed
        assert f["temperature_c"] == pytest.approx(expected[-1], abs=1e-3)
        if len(expected) == 24:  # a curve bundle: the whole next day from the model
            assert f["hourly_source"] == "model" and f["hourly"] == pytest.approx(expected, abs=1e-3)
            assert (f["min_c"], f["max_c"]) == (min(f["hourly"]), max(f["hourly"]))
    if BUNDLE == DEFAULT_BUNDLE:
        assert forecaster.horizons == list(range(1, 25))  # the shipped bundle forecasts the curve

    # SIGHUP with a broken model file: the running model keeps serving.
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(BUNDLE.read_bytes()[:-100])
    text = daemon.config.read_text()
    daemon.config.write_text(text.replace(str(BUNDLE), str(broken)) if "[model]" in text
                             else text + f'[model]\npath = "{broken}"\n')
    daemon.send(signal.SIGHUP)
    wait_until(lambda: "keeping the running model" in daemon.log(), 20, what="reload refusal")
    replay(broker, jena_2020_path, "2020-03-06T04:00:00", 1)
    forecasts = sub.wait_for("edgecast/jena/forecast", 125, 30)
    assert forecasts[-1]["source"] == "model"
    assert daemon.stop() == 0
