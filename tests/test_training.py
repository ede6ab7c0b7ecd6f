"""The training side: data -> windows -> models -> train/evaluate, and the ARIMA baseline.

Needs the [train] extra (TensorFlow, tf_keras, statsmodels, matplotlib); skipped locally
without it, required in CI (EDGECAST_REQUIRE_ALL=1). Runs on slices of the real 2020 file.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from edgecast import features, protocol
from edgecast.data.clean import repair
from edgecast.schema import TARGET, TARGET_INDEX, FeatureSchema

_MISSING = [m for m in ("tensorflow", "keras", "tf_keras", "statsmodels", "matplotlib")
            if importlib.util.find_spec(m) is None]
if _MISSING:
    if os.environ.get("EDGECAST_REQUIRE_ALL") == "1":
        raise ImportError(f"required in CI: the [train] extra ({_MISSING} missing)")
    pytest.skip(f"the [train] extra is not installed ({_MISSING} missing)", allow_module_level=True)

from training import arima, dataset, models  # noqa: E402

pytestmark = pytest.mark.slow  # TensorFlow models are built and trained here

ALL_SLICE = 20_000  # --split all validates on the last 10 %: 2,000 rows leave 428 windows
SLICE = 12_000  # rows (~83 days of January-March 2020): enough for every part's windows


@pytest.fixture(scope="module")
def series(series_2020):
    return series_2020.slice(0, SLICE)


def _fitted_schema(kind: str) -> FeatureSchema:
    spec = models.MODELS[kind]
    n = len(spec.features)
    rng = np.random.default_rng(1)
    return FeatureSchema(spec.features, mean=list(rng.normal(size=n)), std=list(1 + rng.random(n)))


def _window(n_features: int, batch: int = 3) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(batch, 120, n_features)).astype(np.float32)


# --- data -> windows -------------------------------------------------------------------
def test_prepare_fits_statistics_on_train_rows_only(series):
    names = ["T (degC)", "p (mbar)", "hour_sin"]
    prep = dataset.prepare(series, names, protocol_name="reference")
    columns = features.compute_columns(names, repair(series.values)[0], series.times)
    train_end = protocol.split_rows(SLICE)["train"][1]  # 10-minute rows: 6 per step
    np.testing.assert_allclose(prep.schema.mean, columns[:train_end].mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(prep.schema.std, columns[:train_end].std(axis=0), rtol=1e-9)
    # the validation/test rows really are excluded: the full-slice mean differs
    assert abs(columns[:, names.index(TARGET)].mean() - prep.schema.mean[names.index(TARGET)]) > 0.1
    np.testing.assert_allclose(prep.columns, features.normalise(prep.schema, columns))
    # reusing a model's schema reuses its statistics, not new ones
    again = dataset.prepare(series.slice(0, 8000), names, schema=prep.schema)
    assert again.schema.mean == prep.schema.mean


def test_training_feed_matches_protocol_windows(series):
    prep = dataset.prepare(series, models.BOOK_CHANNELS, protocol_name="reference")
    feed = prep.feed("train", 32, shuffle=True, seed=3)
    assert sorted(feed.starts) == list(protocol.window_starts(SLICE, "train"))
    assert list(feed.starts[:32]) != list(range(32))  # shuffled
    for i in (0, 5, len(feed) - 1):
        x, y = feed[i]
        starts = feed.starts[i * 32:(i + 1) * 32]
        np.testing.assert_array_equal(x, protocol.windows(prep.columns, starts, 6))
        # targets: the RAW temperature 24 h after the last input step
        np.testing.assert_array_equal(y[:, 0], series.values[protocol.target_rows(starts), TARGET_INDEX]
                                      .astype(np.float32))
    assert len(prep.feed("val", 1000)) == int(np.ceil(len(protocol.window_starts(SLICE, "val")) / 1000))


# --- models ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(models.MODELS))
def test_every_kind_builds_and_outputs_one_value(kind):
    """One value per window: +24 h; a curve kind one per horizon +1 … +24 h; a band kind
    one per horizon and quantile level."""
    schema = _fitted_schema(kind)
    model = models.build(kind, schema)
    out = np.asarray(model(_window(schema.n_features, batch=5), training=False))
    spec = models.MODELS[kind]
    levels = (len(spec.quantiles),) if spec.quantiles else ()
    assert out.shape == (5, spec.horizons, *levels) and np.isfinite(out).all()
    # no Lambda / custom layers: the export must be able to rebuild it under tf_keras
    assert all(type(layer).__module__.startswith("keras") for layer in model.layers)


@pytest.mark.parametrize("kind", ["compact_lstm", "compact_gru", "compact_lstm_curve"])
def test_residual_model_outputs_last_temperature_when_correction_is_zero(kind):
    schema = _fitted_schema(kind)
    model = models.build(kind, schema)
    for i in range(models.MODELS[kind].members):
        head = model.get_layer(f"correction_{i}")
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    x = _window(schema.n_features)
    j = schema.features.index(TARGET)
    expected = x[:, -1, j] * schema.std[j] + schema.mean[j]
    out = np.asarray(model(x))  # every output (a curve: every horizon) is the last temperature
    np.testing.assert_allclose(out, np.repeat(expected[:, None], out.shape[1], axis=1), rtol=1e-5, atol=1e-4)


BAND = "compact_lstm_anyroof_band"


def test_band_kind_is_one_network_whose_quantiles_never_cross():
    """Median ∓ softplus gaps: whatever the gap heads' weights, p10 ≤ median ≤ p90, and with
    the corrections at zero the median is the last temperature (the residual form)."""
    schema = _fitted_schema(BAND)
    model = models.build(BAND, schema)
    assert models.MODELS[BAND].quantiles == (0.1, 0.5, 0.9)
    rng = np.random.default_rng(2)
    for i in range(models.MODELS[BAND].members):
        head = model.get_layer(f"correction_{i}")
        head.set_weights([np.zeros_like(w) for w in head.get_weights()])
        for side in ("gap_lo", "gap_hi"):  # large weights of both signs: gaps from ~0 to large
            gap = model.get_layer(f"{side}_{i}")
            gap.set_weights([rng.normal(scale=20, size=w.shape).astype(np.float32) for w in gap.get_weights()])
    x = _window(schema.n_features, batch=8)
    out = np.asarray(model(x))
    assert out.shape == (8, 24, 3) and (np.diff(out, axis=-1) >= 0).all()
    j = schema.features.index(TARGET)
    np.testing.assert_allclose(out[..., 1], np.repeat((x[:, -1, j] * schema.std[j] + schema.mean[j])[:, None], 24, 1),
                               rtol=1e-5, atol=1e-4)
    # one network: a single LSTM pair per member, no second model joined in
    assert sum(type(layer).__name__ == "LSTM" for layer in model.layers) == 2 * models.MODELS[BAND].members


def test_band_loss_fits_the_median_as_the_curve_kinds_and_the_gaps_by_pinball():
    """The outer levels' pinball loss moves the gaps only: its gradient on the median's head is
    zero, so the point is fitted by the curve recipe's Huber loss alone."""
    import keras
    import tensorflow as tf

    from training.losses import band_loss
    schema = _fitted_schema(BAND)
    model = models.build(BAND, schema, members=1)
    loss = band_loss(models.MODELS[BAND].quantiles)
    x = _window(schema.n_features, batch=16)
    y = np.random.default_rng(3).normal(scale=5, size=(16, 24)).astype(np.float32)
    with tf.GradientTape() as tape:
        out = model(x)
        outer = tf.reduce_mean(loss(y, out) - keras.losses.huber(y, out[..., 1], delta=1.0))
    weights = model.get_layer("correction_0").trainable_weights + model.get_layer("gap_lo_0").trainable_weights
    grads = [np.abs(np.asarray(g)).max() for g in tape.gradient(outer, weights)]
    assert max(grads[:2]) < 1e-6 and grads[2] > 1e-4
    # its value: Huber on the median + pinball at 0.1 and 0.9
    out = np.asarray(out, np.float64)
    d = y[..., None] - out
    pin = np.maximum(np.array([0.1, 0.9]) * d[..., [0, 2]], (np.array([0.1, 0.9]) - 1) * d[..., [0, 2]]).mean(axis=1)
    e = np.abs(y - out[..., 1])
    huber = np.where(e <= 1, 0.5 * e ** 2, e - 0.5).mean(axis=1)
    np.testing.assert_allclose(np.asarray(loss(y, out.astype(np.float32))), huber + pin.sum(axis=1), rtol=1e-4)
    # the _late variant weights each horizon's Huber term (mean weight 1)
    weights = np.asarray(models.MODELS[BAND + "_late"].extra["horizon_weights"])
    assert abs(weights.mean() - 1) < 1e-3 and weights[-1] > weights[0]
    weighted = band_loss(models.MODELS[BAND].quantiles, weights)
    huber_w = (np.where(e <= 1, 0.5 * e ** 2, e - 0.5) * weights).mean(axis=1)
    np.testing.assert_allclose(np.asarray(weighted(y, out.astype(np.float32))), huber_w + pin.sum(axis=1), rtol=1e-4)


def test_distilled_band_loss_is_band_loss_at_0_and_fits_the_median_to_the_teacher_at_1():
    """y_true = (real curve, teacher's curve): λ = 0 is band_loss on the real curve; at λ = 1
    the median's gradient pulls it toward the teacher, the outer levels stay on the real y;
    the point metric reads the real curve only."""
    import tensorflow as tf

    from training.losses import band_loss, median_mae
    levels = models.MODELS[BAND].quantiles
    rng = np.random.default_rng(4)
    y, teacher = rng.normal(scale=5, size=(2, 16, 24)).astype(np.float32)
    packed = np.concatenate([y, teacher], axis=1)
    out = np.sort(rng.normal(scale=5, size=(16, 24, 3)), axis=-1).astype(np.float32)
    np.testing.assert_allclose(np.asarray(band_loss(levels, teacher_weight=0.0)(packed, out)),
                               np.asarray(band_loss(levels)(y, out)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(median_mae(levels)(packed, out)), np.abs(y - out[..., 1]).mean(axis=1),
                               rtol=1e-6)
    # as the network builds them: the outer levels = median ∓ gaps
    median, gaps = tf.Variable(out[..., 1]), tf.constant(out[..., [0, 2]] - out[..., 1:2])
    with tf.GradientTape() as tape:
        pred = tf.stack([median + gaps[..., 0], median, median + gaps[..., 1]], axis=-1)
        total = tf.reduce_mean(band_loss(levels, teacher_weight=1.0)(packed, pred))
    # a descent step moves the median toward the teacher, wherever the two differ
    step = -np.asarray(tape.gradient(total, median))
    assert (np.sign(step) == np.sign(teacher - out[..., 1])).all()
    # with the median on the teacher, only the outer levels' pinball (against y) is left
    on_teacher = out.copy()
    on_teacher[..., 1] = teacher
    pin = band_loss(levels, teacher_weight=1.0)(packed, on_teacher)
    d = y[..., None] - on_teacher[..., [0, 2]]
    lv = np.array([0.1, 0.9])
    np.testing.assert_allclose(np.asarray(pin), np.maximum(lv * d, (lv - 1) * d).mean(axis=1).sum(axis=1),
                               rtol=1e-5)


@pytest.mark.parametrize("kind", ["compact_lstm", "compact_gru", "gru_reversed", "bilstm"])
def test_unrolled_rebuild_gives_the_same_outputs(kind):
    schema = _fitted_schema(kind)
    rolled = models.build(kind, schema)
    unrolled = models.build(kind, schema, unroll=True)
    unrolled.set_weights(rolled.get_weights())
    x = _window(schema.n_features)
    np.testing.assert_allclose(np.asarray(unrolled(x)), np.asarray(rolled(x)), atol=1e-5)


@pytest.mark.parametrize("kind", ["compact_lstm", "compact_gru"])
def test_tf_keras_rebuild_gives_the_same_outputs(kind):
    import tf_keras
    schema = _fitted_schema(kind)
    rolled = models.build(kind, schema)
    keras2 = models.build(kind, schema, unroll=True, keras_module=tf_keras)
    keras2.set_weights(rolled.get_weights())
    x = _window(schema.n_features)
    np.testing.assert_allclose(np.asarray(keras2(x)), np.asarray(rolled(x)), atol=1e-5)


# --- train / evaluate through the CLI ---------------------------------------------------
@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory, jena_2020_path):
    from click.testing import CliRunner

    from edgecast.cli import main
    out = tmp_path_factory.mktemp("models") / "compact_gru"
    result = CliRunner().invoke(main, ["train", "compact_gru", "--data", str(jena_2020_path), "--epochs", "6",
                                       "--limit-rows", str(SLICE), "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return out


@pytest.mark.slow
def test_cli_train_writes_model_dir_that_beats_naive(trained_dir, series):
    for name in ("model.keras", "model.weights.h5", "metadata.json", "curves.png"):
        assert (trained_dir / name).stat().st_size > 0, name
    meta = json.loads((trained_dir / "metadata.json").read_text())
    assert meta["kind"] == "compact_gru" and meta["data"]["rows"] == SLICE
    features = models.MODELS["compact_gru"].features
    assert meta["schema"]["features"] == features and len(meta["schema"]["mean"]) == len(features)
    members = models.MODELS["compact_gru"].members
    best = meta["best_epoch"] if members > 1 else [meta["best_epoch"]]
    assert len(best) == members and all(1 <= b <= 6 for b in best)
    assert members <= meta["epochs_run"] <= 6 * members
    for key in ("val_mae", "test_mae", "naive_val_mae", "naive_test_mae", "parameters",
                "train_seconds", "hyperparameters", "versions"):
        assert key in meta, key
    # the trivial model the project is measured against: temperature in 24 h = temperature now
    assert meta["val_mae"] < meta["naive_val_mae"], (meta["val_mae"], meta["naive_val_mae"])
    # reloading the directory reproduces the recorded figures
    from training.train import evaluate_model_dir
    again = evaluate_model_dir(trained_dir, series, "reference")
    assert again["val_mae"] == pytest.approx(meta["val_mae"], abs=1e-3)
    assert again["test_mae"] == pytest.approx(meta["test_mae"], abs=1e-3)


@pytest.mark.slow
def test_cli_evaluate_model_dir_json(trained_dir, jena_2020_path):
    from click.testing import CliRunner

    from edgecast.cli import main
    result = CliRunner().invoke(main, ["evaluate", str(trained_dir), "--data", str(jena_2020_path), "--json"])
    assert result.exit_code == 0, result.output + repr(result.exception)
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert set(figures) == {"val_mae", "test_mae", "val_windows", "test_windows", "naive_val_mae", "naive_test_mae"}
    assert figures["val_windows"] == 12_460 and 0 < figures["val_mae"] < 10


@pytest.mark.slow
def test_final_protocol_trains_on_every_window_and_exports(tmp_path):
    """`--protocol final`: the shipped model's way — all windows, fixed epochs, no held-out part."""
    from click.testing import CliRunner

    from edgecast.bundle import read_bundle
    from edgecast.cli import main

    from .conftest import shared_file
    data = shared_file("mpi_roof_2021_hourly.csv.xz")
    out = tmp_path / "final"
    result = CliRunner().invoke(main, ["train", "compact_lstm_bme280", "--data", str(data), "--protocol", "final",
                                       "--epochs", "1", "--limit-rows", "2000", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    meta = json.loads((out / "metadata.json").read_text())
    assert meta["data"]["protocol"] == "final" and meta["val_mae"] is None and meta["test_mae"] is None
    # no validation: the recipe's epochs for every member
    assert meta["epochs_run"] == models.COMPACT_FINAL_EPOCHS * models.COMPACT_MEMBERS
    # statistics from every hour of the data
    from edgecast.data import load
    t = load(data).values[:2000, TARGET_INDEX]
    j = meta["schema"]["features"].index("T (degC)")
    assert meta["schema"]["mean"][j] == pytest.approx(t.mean(), rel=1e-6)
    bundle = tmp_path / "final.tflite"
    result = CliRunner().invoke(main, ["export", str(out), "--fused", "-o", str(bundle)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    meta = read_bundle(bundle).meta
    assert meta["training"]["protocol"] == "final" and "val_mae" not in meta["metrics"]


def test_cli_train_rejects_bad_input(tmp_path, jena_2020_path):
    from click.testing import CliRunner

    from edgecast.cli import main
    runner = CliRunner()
    bad_kind = runner.invoke(main, ["train", "transformer", "--data", str(jena_2020_path), "--out", str(tmp_path)])
    assert bad_kind.exit_code != 0 and "unknown kind" in bad_kind.output and "Traceback" not in bad_kind.output
    junk = tmp_path / "junk.csv"
    junk.write_text("this is not,a jena file\n1,2\n")
    bad_file = runner.invoke(main, ["train", "dense", "--data", str(junk), "--out", str(tmp_path / "m")])
    assert bad_file.exit_code != 0 and "junk.csv" in bad_file.output and "Traceback" not in bad_file.output


# --- the ARIMA baseline -----------------------------------------------------------------
def test_arima_on_a_slice(series):
    layout = protocol.layout("reference", series)
    fitted, result = arima.run(layout)
    assert np.isfinite([result["val_mae"], result["test_mae"]]).all()
    assert 0.5 < result["val_mae"] < 6 and 0.5 < result["test_mae"] < 6
    # the vectorised forecast equals statsmodels' own forecast from the same data
    temperature = repair(series.values)[0][:, TARGET_INDEX]
    predict = arima.predictor(layout, fitted)
    start = int(protocol.window_starts(SLICE, "test")[7])
    last = int(protocol.last_step_rows(np.array([start]))[0])
    hourly = temperature[last % 6::6][:last // 6 + 1]
    own = arima._model(hourly, fitted["order"], fitted["seasonal_order"]).filter(np.asarray(fitted["params"]))
    assert predict(np.array([start]))[0] == pytest.approx(own.forecast(24)[-1], abs=1e-6)


def test_curve_kind_fits_every_horizon_and_is_scored_beside_both_naives(tmp_path):
    """compact_lstm_curve: 24 outputs, fitted where all 24 hours were measured,
    the +24 h output is the headline, by_horizon has the model beside both naive curves."""
    from click.testing import CliRunner

    from edgecast.cli import main

    from .conftest import shared_file
    out = tmp_path / "curve"
    result = CliRunner().invoke(main, ["train", "compact_lstm_curve", "--data",
                                       str(shared_file("jena_climate_2009_2016_hourly.csv.xz")),
                                       "--epochs", "1", "--limit-rows", "6000", "--out", str(out)])
    assert result.exit_code == 0, result.output + repr(result.exception)
    meta = json.loads((out / "metadata.json").read_text())
    test = meta["by_horizon"]["test"]
    assert [r["h"] for r in test] == list(range(1, 25))
    assert set(test[0]) == {"h", "windows", "persistence", "yesterday", "model"}
    assert test[-1]["persistence"] == meta["naive_test_mae"] and test[-1]["model"] == meta["test_mae"]
    # it exports (tests/test_export.py), alone or as the curve beside a +24 h model, not as the +24 h model
    refused = CliRunner().invoke(main, ["export", str(out), "--curve", str(out), "-o", str(tmp_path / "c.tflite")])
    assert refused.exit_code == 1 and "is itself a curve model" in refused.output
