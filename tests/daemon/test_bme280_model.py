"""A cheap box: readings with only pressure, temperature and humidity (a BME280) serve the
bundled 11-channel model, because the daemon derives the other eight channels; its
forecasts match the same model on the station's real, fully measured rows."""

from __future__ import annotations

import json

import numpy as np
import paho.mqtt.client as mqtt
import pytest

from edgecast import protocol
from edgecast.solar import JENA
from edgecast.forecaster import BUNDLED, load_forecaster
from edgecast.schema import CHANNEL_INDEX, SITE_FEATURES

from tests.conftest import require

TOPICS = ["edgecast/roof/forecast", "edgecast/roof/status"]


def _publish(broker, payloads: list[bytes]) -> None:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bme280-sensor")
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    infos = [client.publish("edgecast/roof/readings", p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(30)
    client.disconnect()
    client.loop_stop()


@pytest.mark.parametrize("derive", [True, False])
def test_bme280_readings_serve_the_bme280_model(broker, daemons, subscriber, series_2020, derive):
    bundle = BUNDLED / "bme280.tflite"
    require(bundle.exists(), f"no bundled model at {bundle}")
    forecaster = load_forecaster("bme280")
    # it reads only what a BME280 measures, and the sun at the box's location
    assert forecaster.schema.features == ["T (degC)", "p (mbar)", "rh (%)", *SITE_FEATURES]

    sub = subscriber(broker, TOPICS)
    daemon = daemons(broker, station="roof", extra='[model]\npath = "bme280"\n'
                     f'[readings]\nderive_missing = {str(derive).lower()}\n').start()
    sub.wait_online("roof", 15)

    times, values = series_2020.times, series_2020.values
    first = int(np.searchsorted(times, np.datetime64("2020-03-01T00:00:00")))
    rows = range(first, first + 6 * 124 + 1)
    p, t, rh = (CHANNEL_INDEX[c] for c in ("p (mbar)", "T (degC)", "rh (%)"))
    _publish(broker, [json.dumps({"time": str(times[i]) + "Z", "p": float(values[i, p]), "T": float(values[i, t]),
                                  "rh": float(values[i, rh])}).encode() for i in rows])

    forecasts = sub.wait_for("edgecast/roof/forecast", 124, 60)
    served = forecasts[119:124]
    assert [f["source"] for f in served] == ["model"] * 5, [f["reason"] for f in served]
    assert served[0]["model"]["kind"] == "compact_lstm_anyroof_bme280"
    for f in served:
        last = int(np.searchsorted(times, np.datetime64(f["issued_at"].rstrip("Z"), "s")))
        window_rows = protocol.step_rows(np.array([last - protocol.span_rows()]))[0]
        measured = forecaster.forecast(values[window_rows], times[window_rows], JENA)[-1]
        # (derived channels, which this model does not read, would change nothing)
        assert f["temperature_c"] == pytest.approx(measured, abs=0.002)
    assert daemon.stop() == 0
