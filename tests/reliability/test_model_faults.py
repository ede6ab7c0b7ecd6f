"""Model faults, on the real bundled model and the real TFLite runtime: missing, truncated,
wrong-schema and checksum-mismatch bundles, and a bundle whose weights make the model
output NaN, each give the naive forecast with the reason (never a crash); a reload (SIGHUP)
onto a broken bundle keeps the running model.

The daemon's Service (one station) runs in-process (its broker link never connects; what it publishes
is recorded), so these cost a second, not a broker round trip each. The subprocess path
of SIGHUP is tests/daemon/test_service.py's."""

from __future__ import annotations

import logging

import pytest

from edgecast.bundle import CHECKSUM_PLACEHOLDER, METADATA_NAME, _deref, _field, _vector, seal, tflite_metadata
from edgecast.daemon import config as config_mod
from edgecast.daemon.service import Service
from edgecast.daemon.station import Station
from edgecast.forecaster import DEFAULT_BUNDLE
from harness.offline import OfflineLink
from tests.reliability.faults import forecasts_of, payloads

START = "2020-03-01T00:00:00"


def resealed(buf: bytes) -> bytes:
    """The bundle with a valid checksum again (after an edit that must get past it)."""
    start, length = tflite_metadata(buf)[METADATA_NAME]
    pos = buf.find(b'"sha256": "', start, start + length) + len(b'"sha256": "')
    return seal(buf[:pos] + CHECKSUM_PLACEHOLDER.encode() + buf[pos + 64:])


def nan_weights(buf: bytes) -> bytes:
    """Every float of the largest weight buffer set to NaN (0xFFFFFFFF), resealed."""
    meta_start, _ = tflite_metadata(buf)[METADATA_NAME]
    buffers, n = _vector(buf, _field(buf, _deref(buf, 0), 4))
    spans = []
    for i in range(n):
        data_at = _field(buf, _deref(buf, buffers + 4 * i), 0)
        if data_at:
            pos, length = _vector(buf, data_at)
            if not pos <= meta_start < pos + length:
                spans.append((length, pos))
    length, pos = max(spans)
    out = bytearray(buf)
    out[pos:pos + length - length % 4] = b"\xff" * (length - length % 4)
    return resealed(bytes(out))


def broken_bundles(tmp_path):
    good = DEFAULT_BUNDLE.read_bytes()
    flipped = bytearray(good)
    flipped[len(flipped) // 3] ^= 0xFF  # one flipped byte in the weights
    start, length = tflite_metadata(good)[METADATA_NAME]
    meta = good[start:start + length]
    assert b'"window_steps": 120' in meta
    wrong_schema = resealed(good[:start] + meta.replace(b'"window_steps": 120', b'"window_steps": 119')
                            + good[start + length:])
    files = {"truncated": good[: len(good) // 2], "checksum": bytes(flipped), "wrong_schema": wrong_schema,
             "not_tflite": b"\x00" * 64}
    for name, data in files.items():
        (tmp_path / f"{name}.tflite").write_bytes(data)
    return files


def service(tmp_path, model: str, config_name: str = "edgecast.toml") -> Service:
    path = tmp_path / config_name
    path.write_text(f'[station]\nid = "jena"\n[state]\ndir = "{tmp_path / "state"}"\n'
                    f'[model]\npath = "{model}"\n')
    svc = Service(config_mod.load(path), str(path), link_for=OfflineLink)
    svc.start()
    s = svc.stations[0]
    s.published = s.link.published
    return svc


def forecasts(s: Station) -> list[dict]:
    return forecasts_of(s.published)


EXPECTED = {
    "missing": "does not exist",
    "truncated": "",  # which structure the cut lands in decides the wording; the point is: refused
    "checksum": "checksum mismatch",
    "wrong_schema": "schema geometry does not match this edgecast (window 119",
    "not_tflite": "not a TFLite flatbuffer",
}


@pytest.mark.parametrize("fault", list(EXPECTED))
def test_a_broken_bundle_serves_naive_with_the_reason(tmp_path, series_2020, fault):
    broken_bundles(tmp_path)
    svc = service(tmp_path, str(tmp_path / f"{fault}.tflite"))
    s = svc.stations[0]
    assert s.forecaster is None and EXPECTED[fault] in s.model_error
    for p in payloads(series_2020, START, 3):
        s.on_payload(p)
    out = forecasts(s)
    assert len(out) == 3
    for f in out:
        assert f["source"] == "naive" and f["temperature_c"] == f["naive_c"] and f["model"] is None
        assert f["reason"].startswith("no model: ") and EXPECTED[fault] in f["reason"]
    assert s.stats()["model_error"] == s.model_error


def test_non_finite_model_output_is_naive_with_the_reason(tmp_path, series_2020):
    (tmp_path / "nan.tflite").write_bytes(nan_weights(DEFAULT_BUNDLE.read_bytes()))
    svc = service(tmp_path, str(tmp_path / "nan.tflite"))
    s = svc.stations[0]
    assert s.forecaster is not None, s.model_error  # it loads: only its output is wrong
    for p in payloads(series_2020, START, 122):
        s.on_payload(p)
    served = [f for f in forecasts(s) if not f["reason"].startswith("warming up")]
    assert len(served) >= 2
    for f in served:
        assert (f["source"], f["reason"]) == ("naive", "model output is not finite (nan)")
        assert f["temperature_c"] == f["naive_c"] and f["model"] == s.forecaster.identity


def test_reload_onto_a_broken_bundle_keeps_the_running_model(tmp_path, series_2020, caplog):
    broken_bundles(tmp_path)
    svc = service(tmp_path, str(DEFAULT_BUNDLE))
    s = svc.stations[0]
    running = s.forecaster
    assert running is not None, s.model_error
    items = payloads(series_2020, START, 124)
    for p in items[:6 * 121]:
        s.on_payload(p)
    assert forecasts(s)[-1]["source"] == "model"
    for fault in ("missing", "truncated", "checksum", "wrong_schema", "not_tflite"):
        (tmp_path / "edgecast.toml").write_text((tmp_path / "edgecast.toml").read_text()
                                                .replace(str(DEFAULT_BUNDLE), str(tmp_path / f"{fault}.tflite")))
        with caplog.at_level(logging.ERROR, logger="edgecast"):
            svc.reload()  # what SIGHUP runs
        assert s.forecaster is running and s.model_error is None
        assert "the new model cannot serve" in caplog.text and "keeping the running model" in caplog.text
        caplog.clear()
        (tmp_path / "edgecast.toml").write_text((tmp_path / "edgecast.toml").read_text()
                                                .replace(str(tmp_path / f"{fault}.tflite"), str(DEFAULT_BUNDLE)))
    for p in items[6 * 121:]:
        s.on_payload(p)
    after = forecasts(s)[-3:]
    assert [f["source"] for f in after] == ["model"] * 3 and all(f["reason"] is None for f in after)

