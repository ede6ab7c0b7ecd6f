"""A bundle whose feature schema is malformed (resealed, so its checksum holds) is refused
when read, naming the field — by `run --check`, at start and by a reload, which keeps the
running model — and a fault no check foresees while the model forecasts gives the naive
forecast with the reason, never a skipped hour. Real bundle, real LiteRT."""

from __future__ import annotations

import json
import logging

import pytest

from edgecast.bundle import METADATA_NAME, BundleError, read_bundle, tflite_metadata
from edgecast.forecaster import DEFAULT_BUNDLE
from tests.reliability.faults import forecasts_of, payloads
from tests.reliability.test_model_faults import START, resealed, service


def with_schema(edit, part: str = "schema") -> bytes:
    """The shipped bundle with ``edit(schema dict)`` applied to its metadata (``part``:
    "schema", or "" for the whole metadata), resealed.
    The JSON is rewritten compactly and padded with spaces to its old length, so the
    flatbuffer around it stays valid."""
    good = DEFAULT_BUNDLE.read_bytes()
    start, length = tflite_metadata(good)[METADATA_NAME]
    meta = json.loads(good[start:start + length])
    edit(meta[part] if part else meta)
    text = json.dumps(meta, separators=(",", ": ")).encode()  # keeps '"sha256": "' as the sealer finds it
    assert len(text) <= length
    return resealed(good[:start] + text.ljust(length) + good[start + length:])


def _set(key, value):
    return lambda s: s.__setitem__(key, value)


def _set_item(key, i, value):
    return lambda s: s[key].__setitem__(i, value)


MALFORMED = {
    "string_in_mean": (_set_item("mean", 2, "0.5"), "schema.mean[2] is '0.5'"),
    "list_in_mean": (_set_item("mean", 0, [1.0]), "schema.mean[0]"),
    "nan_in_mean": (_set_item("mean", 1, float("nan")), "schema.mean[1] is 'nan'"),
    "mean_too_short": (lambda s: s["mean"].pop(), "schema.mean has 8 entries for 9 features"),
    "std_zero": (_set_item("std", 3, 0), "schema.std[3] is '0', not a positive finite number"),
    "std_not_a_list": (_set("std", "1"), "schema.std must be a list of numbers"),
    "features_a_string": (_set("features", "T (degC)"), "schema.features must be a non-empty list"),
    "window_a_string": (_set("window_steps", "120"), "schema.window_steps must be a whole number"),
}


@pytest.mark.parametrize("fault", list(MALFORMED))
def test_a_malformed_schema_is_refused_naming_the_field(tmp_path, fault):
    edit, expected = MALFORMED[fault]
    path = tmp_path / f"{fault}.tflite"
    path.write_bytes(with_schema(edit))
    with pytest.raises(BundleError) as caught:
        read_bundle(path)
    assert "feature schema" in str(caught.value) and expected in str(caught.value), str(caught.value)


@pytest.mark.parametrize("key, value", [("kind", "k" * 81), ("graph_form", ["fused"]), ("quantization", 8)])
def test_identity_fields_published_with_every_forecast_are_checked(tmp_path, key, value):
    path = tmp_path / "bad.tflite"
    path.write_bytes(with_schema(_set(key, value), part=""))
    with pytest.raises(BundleError) as caught:
        read_bundle(path)
    assert f"metadata {key} is not a name of at most 80 characters" in str(caught.value)


def test_check_and_reload_refuse_a_string_in_mean(tmp_path, series_2020, caplog):
    from click.testing import CliRunner

    from edgecast.cli import main
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(with_schema(MALFORMED["string_in_mean"][0]))
    svc = service(tmp_path, str(DEFAULT_BUNDLE))
    s = svc.stations[0]
    running = s.forecaster
    config = tmp_path / "edgecast.toml"
    config.write_text(config.read_text().replace(str(DEFAULT_BUNDLE), str(bad)))
    result = CliRunner().invoke(main, ["run", "--check", "--config", str(config)])
    assert "schema.mean[2] is '0.5'" in result.output, result.output
    with caplog.at_level(logging.ERROR, logger="edgecast"):
        svc.reload()  # what SIGHUP runs
    assert s.forecaster is running and "keeping the running model" in caplog.text
    for p in payloads(series_2020, START, 122):
        s.on_payload(p)
    assert forecasts_of(s.published)[-1]["source"] == "model"


def test_any_fault_while_the_model_forecasts_serves_naive_every_hour(tmp_path, series_2020, caplog):
    svc = service(tmp_path, str(DEFAULT_BUNDLE))
    s = svc.stations[0]
    assert s.forecaster is not None, s.model_error
    s.forecaster.schema.mean[2] = "0.5"  # what a bundle read before the schema checks could hold
    items = payloads(series_2020, START, 126)
    with caplog.at_level(logging.ERROR, logger="edgecast"):
        for p in items:
            s.on_payload(p)
    out = forecasts_of(s.published)
    hours = s.counters["hours_completed"]
    assert len(out) == hours >= 125  # every completed hour forecast, none skipped
    served = [f for f in out if not f["reason"].startswith("warming up")]
    assert len(served) >= 5
    for f in served:
        assert f["source"] == "naive" and f["temperature_c"] == f["naive_c"]
        assert f["reason"].startswith("model failed: UFuncTypeError"), f["reason"]
    assert "serving the naive forecast" in caplog.text
    assert s.save_state() and s.state_saved_hour == s.buffer.hours[-1]
