"""`edgecast export` on a small real model: every graph form and quantisation it offers,
the parity check, the self-describing bundle, and the same forecasts on both device
runtimes (LiteRT here, tflite-runtime 2.14 in its own NumPy<2 environment).

Needs the [train] extra; skipped locally without it, required in CI (EDGECAST_REQUIRE_ALL=1).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecast import protocol
from training import models
from edgecast.bundle import BundleError, read_bundle
from edgecast.features import layout_columns
from edgecast.forecaster import load_forecaster
from tests.conftest import require

pytestmark = pytest.mark.slow  # models are trained and converted here

_MISSING = [m for m in ("tensorflow", "tf_keras") if importlib.util.find_spec(m) is None]
if _MISSING:
    if os.environ.get("EDGECAST_REQUIRE_ALL") == "1":
        raise ImportError(f"required in CI: the [train] extra ({_MISSING} missing)")
    pytest.skip(f"the [train] extra is not installed ({_MISSING} missing)", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402

from edgecast.cli import main  # noqa: E402

SLICE = 12_000  # rows of January-March 2020: every part has windows
BAND = "compact_lstm_anyroof_band"  # the curve and its quantiles from one network
TFLITE_PYTHON = os.environ.get("EDGECAST_TFLITE_PYTHON", "")


def _cli(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout  # stderr carries notes (e.g. an assumed location)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, jena_2020_path):
    """compact_lstm, compact_gru, compact_lstm_curve and the band kind, really trained (1 epoch)
    on the first 12,000 rows."""
    root = tmp_path_factory.mktemp("trained")
    for kind in ("compact_lstm", "compact_gru", "compact_lstm_curve", BAND):
        _cli("train", kind, "--data", jena_2020_path, "--epochs", 1, "--limit-rows", SLICE, "--out", root / kind)
    return root


@pytest.fixture(scope="module")
def bundles(model_dirs, tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles")
    made = {}
    for name, kind, flags in (("loop", "compact_lstm", ["--no-unroll"]),
                              ("unrolled", "compact_lstm", ["--unroll"]),
                              ("fused", "compact_lstm", ["--fused"]),
                              ("dynamic", "compact_lstm", ["--unroll", "--quantize", "dynamic"]),
                              ("gru_loop", "compact_gru", ["--no-unroll"]),
                              ("curve", "compact_lstm_curve", ["--no-unroll"]),
                              ("combined", "compact_lstm", ["--fused", "--curve", model_dirs / "compact_lstm_curve"]),
                              ("band", BAND, ["--fused"])):
        made[name] = out / f"{name}.tflite"
        _cli("export", model_dirs / kind, "-o", made[name], *flags)
    return made


@pytest.fixture(scope="module")
def sliced_csv(jena_2020_path, tmp_path_factory):
    """The rows the models were trained on, as a file `edgecast evaluate` can read."""
    sliced = tmp_path_factory.mktemp("data") / "slice.csv"
    lines = subprocess.run(["xz", "-dc", str(jena_2020_path)], capture_output=True, check=True).stdout.splitlines()
    sliced.write_bytes(b"\r\n".join(lines[:SLICE + 1]) + b"\r\n")
    return sliced


@pytest.fixture(scope="module")
def real_windows(series_2020, bundles):
    schema = read_bundle(bundles["loop"]).schema
    series = series_2020.slice(0, SLICE)
    layout = protocol.layout("reference", series, schema.features)
    columns = layout_columns(schema, layout)
    return layout.windows(columns, layout.starts("test")[::97])


@pytest.mark.parametrize("form, ops_present, ops_absent", [
    ("loop", {"WHILE"}, {"UNIDIRECTIONAL_SEQUENCE_LSTM"}),
    ("unrolled", set(), {"WHILE", "UNIDIRECTIONAL_SEQUENCE_LSTM"}),
    ("fused", {"UNIDIRECTIONAL_SEQUENCE_LSTM"}, {"WHILE"}),
])
def test_graph_forms_are_what_they_say(bundles, form, ops_present, ops_absent):
    bundle = read_bundle(bundles[form])
    meta = bundle.meta
    assert meta["graph_form"] == form and meta["quantization"] == "none" and meta["kind"] == "compact_lstm"
    assert ops_present <= set(meta["ops"]) and not (ops_absent & set(meta["ops"])), meta["ops"]
    assert meta["parity"]["windows"] == 1000 and meta["parity"]["max_abs_c"] <= 0.01
    features = models.MODELS["compact_lstm"].features
    assert meta["schema"]["features"] == features and len(meta["schema"]["mean"]) == len(features)
    # train_last: the last train window's target
    assert meta["training"]["rows"] == SLICE and meta["training"]["train_last"].startswith("2020-02-12")
    for key in ("val_mae", "test_mae", "naive_val_mae", "naive_test_mae"):
        assert 0 < meta["metrics"][key] < 10, key


def test_every_form_gives_the_same_forecasts(bundles, real_windows):
    reference = load_forecaster(bundles["loop"]).runner.predict(real_windows)
    for form in ("unrolled", "fused"):
        np.testing.assert_allclose(load_forecaster(bundles[form]).runner.predict(real_windows), reference, atol=1e-4)
    assert read_bundle(bundles["dynamic"]).meta["quantization"] == "dynamic"
    diff = np.abs(load_forecaster(bundles["dynamic"]).runner.predict(real_windows) - reference)
    assert diff.max() <= 0.5, diff.max()


def test_a_forecast_does_not_depend_on_the_previous_one(bundles, real_windows):
    # The fused LSTM op keeps state in variable tensors between invokes; a forecast of a
    # window must be the same whatever the interpreter forecast before it.
    for form in ("fused", "loop", "unrolled"):
        runner = load_forecaster(bundles[form]).runner
        first = runner.predict_one(real_windows[0])
        runner.predict_one(real_windows[-1])
        assert runner.predict_one(real_windows[0]) == pytest.approx(first, abs=1e-6), form


def test_bundle_mae_equals_edgecast_evaluate_without_tensorflow(bundles, sliced_csv):
    # The honest accuracy of what ships: the device runtime, TensorFlow blocked from import.
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
            "from edgecast.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, "evaluate", str(bundles["fused"]), "--data", str(sliced_csv),
                          "--json"], capture_output=True, text=True, check=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    recorded = read_bundle(bundles["fused"]).meta["metrics"]
    assert figures["val_mae"] == pytest.approx(recorded["val_mae"], abs=1e-4)
    assert figures["test_mae"] == pytest.approx(recorded["test_mae"], abs=1e-4)


_LEGACY_RUN = r"""
import json, sys
import numpy as np
from edgecast.forecaster import load_forecaster
windows = np.load(sys.argv[2])
f = load_forecaster(sys.argv[1], runtime="tflite-runtime")
print(json.dumps({"runtime": f.identity["runtime"], "numpy": np.__version__,
                  "forecasts": f.runner.predict_curves(windows).tolist()}))
"""


def test_tflite_runtime_refuses_a_dynamic_range_bundle_clearly(bundles):
    # The converter writes the quantised hidden layer as FULLY_CONNECTED version 12, which
    # tflite-runtime 2.14 predates: the box must say so, not crash (README: use LiteRT).
    require(bool(TFLITE_PYTHON) and Path(TFLITE_PYTHON).exists(),
            "EDGECAST_TFLITE_PYTHON (a python with tflite-runtime 2.14) is not set; `make test` sets it")
    proc = subprocess.run([TFLITE_PYTHON, "-c", "from edgecast.forecaster import load_forecaster; "
                           f"load_forecaster({str(bundles['dynamic'])!r}, runtime='tflite-runtime')"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "the runtime cannot load it" in proc.stderr and "FULLY_CONNECTED" in proc.stderr


@pytest.mark.parametrize("form", ["loop", "unrolled", "fused", "gru_loop", "combined"])
def test_tflite_runtime_gives_the_same_forecasts_as_litert(bundles, real_windows, tmp_path, form):
    require(bool(TFLITE_PYTHON) and Path(TFLITE_PYTHON).exists(),
            "EDGECAST_TFLITE_PYTHON (a python with tflite-runtime 2.14) is not set; `make test` sets it")
    np.save(tmp_path / "windows.npy", real_windows)
    out = subprocess.run([TFLITE_PYTHON, "-c", _LEGACY_RUN, str(bundles[form]), str(tmp_path / "windows.npy")],
                         capture_output=True, text=True, check=True).stdout
    legacy = json.loads(out.strip().splitlines()[-1])
    assert legacy["runtime"].startswith("tflite-runtime 2.14") and legacy["numpy"].startswith("1.")
    litert = load_forecaster(bundles[form], runtime="litert").runner.predict_curves(real_windows)
    np.testing.assert_allclose(legacy["forecasts"], litert, atol=1e-4)


def test_export_refusals_are_clear(model_dirs, tmp_path):
    runner = CliRunner()
    gru_fused = runner.invoke(main, ["export", str(model_dirs / "compact_gru"), "-o", str(tmp_path / "x.tflite"),
                                     "--fused"])
    assert gru_fused.exit_code != 0 and "fused form exists only for LSTM" in gru_fused.output
    int8_loop = runner.invoke(main, ["export", str(model_dirs / "compact_lstm"), "-o", str(tmp_path / "y.tflite"),
                                     "--quantize", "int8"])
    assert int8_loop.exit_code != 0 and "int8 needs a graph without a WHILE loop" in int8_loop.output
    # int8 calibrates its input range on training windows (January here); the March test
    # windows are warmer, the clipped input moves forecasts by degrees, and the parity gate
    # refuses to write the bundle.
    int8 = runner.invoke(main, ["export", str(model_dirs / "compact_lstm"), "-o", str(tmp_path / "z.tflite"),
                                "--unroll", "--quantize", "int8"])
    assert int8.exit_code != 0 and "over the int8 tolerance" in int8.output, int8.output[-400:]
    assert not any((tmp_path / f"{n}.tflite").exists() for n in "xyz")
    assert "Traceback" not in gru_fused.output + int8_loop.output + int8.output


CURVE = list(range(1, 25))


def test_a_curve_model_exports_to_a_24_output_bundle(bundles, model_dirs, real_windows):
    from training.train import load_model_dir
    bundle = read_bundle(bundles["curve"])
    assert bundle.horizons == CURVE and bundle.meta["kind"] == "compact_lstm_curve" and "curve" not in bundle.meta
    assert bundle.meta["parity"]["max_abs_c"] <= 0.01
    runner = load_forecaster(bundles["curve"]).runner
    assert runner.outputs == 24
    keras_model, _ = load_model_dir(model_dirs / "compact_lstm_curve")
    np.testing.assert_allclose(runner.predict_curves(real_windows), keras_model.predict(real_windows, verbose=0),
                               atol=0.01)


def test_a_band_model_exports_to_one_graph_serving_its_quantiles(bundles, model_dirs, series_2020):
    """(1, 24, 3) from one fused graph: parity checked on all 72 values, the levels in the
    metadata, the point forecast its median; served through LiteRT without crossing."""
    from training.train import load_model_dir
    bundle = read_bundle(bundles["band"])
    assert bundle.quantiles == [0.1, 0.5, 0.9] and bundle.horizons == CURVE and "curve" not in bundle.meta
    assert bundle.meta["parity"]["max_abs_c"] <= 0.01 and "UNIDIRECTIONAL_SEQUENCE_LSTM" in bundle.meta["ops"]
    forecaster = load_forecaster(bundles["band"])
    assert forecaster.runner.output_shape == (1, 24, 3)
    keras_model, meta = load_model_dir(model_dirs / BAND)
    schema = bundle.schema
    layout = protocol.layout("reference", series_2020.slice(0, SLICE), schema.features)
    windows = layout.windows(layout_columns(schema, layout), layout.starts("test")[::97])
    expected = keras_model.predict(windows, verbose=0)
    quantiles = forecaster.runner.predict_quantile_curves(windows)
    np.testing.assert_allclose(quantiles, expected, atol=0.01)  # every output, not only the point
    assert (np.diff(quantiles, axis=-1) >= 0).all()
    np.testing.assert_array_equal(forecaster.runner.predict_curves(windows), quantiles[..., 1])
    # the bundle's own figures are the median's, as `edgecast train` scored the model
    assert abs(bundle.meta["metrics"]["test_mae"] - meta["test_mae"]) < 0.01


def test_combined_bundle_is_the_curve_with_the_dedicated_headline(bundles, model_dirs, real_windows):
    # One graph, one input: the curve model's hours up to +18 h, +24 h the +24 h model's,
    # and the difference phased in over +19 … +24 h (training.export.blend).
    from training.train import load_model_dir
    bundle = read_bundle(bundles["combined"])
    meta = bundle.meta
    assert bundle.horizons == CURVE and meta["kind"] == "compact_lstm" and meta["graph_form"] == "fused"
    assert meta["curve"]["kind"] == "compact_lstm_curve" and meta["curve"]["blend_hours"] == 6
    standalone = read_bundle(bundles["fused"]).meta
    assert meta["parameters"] == standalone["parameters"] + meta["curve"]["parameters"]
    assert meta["metrics"]["test_mae"] == standalone["metrics"]["test_mae"]  # the headline is unchanged
    runner = load_forecaster(bundles["combined"]).runner
    assert runner.outputs == 24
    curves = runner.predict_curves(real_windows)
    np.testing.assert_allclose(curves[:, -1], load_forecaster(bundles["fused"]).runner.predict(real_windows),
                               atol=1e-5)
    curve_model, _ = load_model_dir(model_dirs / "compact_lstm_curve")
    own = curve_model.predict(real_windows, verbose=0)
    np.testing.assert_allclose(curves[:, :18], own[:, :18], atol=0.01)
    # by hand: +21 h takes half of the +24 h correction
    np.testing.assert_allclose(curves[:, 20], own[:, 20] + 0.5 * (curves[:, -1] - own[:, -1]), atol=0.01)
    # per-horizon MAE through the device runtime, every evaluated part, the +24 h one the headline's
    for part in ("val", "test"):
        figures = meta["by_horizon"][part]
        assert all(len(figures[name]) == 24 for name in ("model", "persistence", "yesterday", "windows"))
        assert figures["model"][-1] == pytest.approx(meta["metrics"][f"{part}_mae"], abs=1e-3)
    # and `edgecast inspect` shows them
    test_line = next(line for line in _cli("inspect", bundles["combined"]).splitlines() if "per hour   test:" in line)
    assert f"+24 h {meta['by_horizon']['test']['model'][-1]:.2f}" in test_line and "better naive" in test_line


def test_evaluate_per_horizon_of_a_curve_bundle(bundles, sliced_csv):
    result = CliRunner().invoke(main, ["evaluate", str(bundles["combined"]), "--data", str(sliced_csv),
                                       "--per-horizon", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output.strip().splitlines()[-1])["by_horizon"]["test"]
    assert [r["h"] for r in rows] == CURVE
    recorded = read_bundle(bundles["combined"]).meta["by_horizon"]["test"]["model"]
    assert [r["model"] for r in rows] == pytest.approx(recorded, abs=1e-3)
    table = _cli("evaluate", bundles["combined"], "--data", sliced_csv, "--per-horizon")
    assert "h  model  persistence  yesterday  windows" in table
    refused = CliRunner().invoke(main, ["evaluate", str(bundles["fused"]), "--data", str(sliced_csv),
                                        "--per-horizon"])
    assert refused.exit_code != 0 and "forecasts +24 h only" in refused.output


def _edited_copy(model_dir: Path, dest: Path, edit) -> Path:
    """A copy of a trained model dir whose metadata.json was changed by ``edit(meta)``."""
    shutil.copytree(model_dir, dest)
    meta = json.loads((dest / "metadata.json").read_text())
    edit(meta)
    (dest / "metadata.json").write_text(json.dumps(meta))
    return dest


def test_combined_export_refusals_are_clear(model_dirs, tmp_path):
    lstm, curve = model_dirs / "compact_lstm", model_dirs / "compact_lstm_curve"
    other_stats = _edited_copy(curve, tmp_path / "other_stats", lambda m: m["schema"]["std"].reverse())
    other_rows = _edited_copy(curve, tmp_path / "other_rows", lambda m: m["data"].update(limit_rows=SLICE // 2))
    cases = {"not_curve": ([lstm, "--curve", model_dirs / "compact_gru"], "is not a curve model"),
             "curve_itself": ([curve, "--curve", curve], "is itself a curve model"),
             "schema": ([lstm, "--curve", other_stats], "their schemas differ in std"),
             "data": ([lstm, "--curve", other_rows], f"different data (limit_rows {SLICE} vs {SLICE // 2})")}
    for name, (args, message) in cases.items():
        result = CliRunner().invoke(main, ["export", *map(str, args), "-o", str(tmp_path / f"{name}.tflite")])
        assert result.exit_code == 1 and message in result.output, (name, result.output[-400:])
        assert "Traceback" not in result.output and not (tmp_path / f"{name}.tflite").exists()


def test_a_damaged_bundle_is_refused_with_the_reason(bundles, tmp_path):
    data = bytearray(bundles["unrolled"].read_bytes())
    data[len(data) // 3] ^= 0xFF  # one flipped byte in the weights
    damaged = tmp_path / "damaged.tflite"
    damaged.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="checksum mismatch"):
        read_bundle(damaged)
    result = CliRunner().invoke(main, ["inspect", str(damaged)])
    assert result.exit_code != 0 and "checksum mismatch" in result.output


def test_inspect_reports_size_ops_memory_latency(bundles):
    report = json.loads(_cli("inspect", bundles["fused"], "--json"))
    assert report["size_bytes"] == bundles["fused"].stat().st_size
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in report["ops"]
    assert report["memory"]["peak_rss_bytes"] > report["memory"]["runtime_baseline_bytes"] > 0
    assert report["latency"]["median_ms"] > 0 and report["identity"]["graph_form"] == "fused"
