"""Step 5 of the story: fit one model, keep its best validation epoch, score it like naive.

``train`` writes a model directory:

- ``model.keras``        the Keras model (plain layers only; loads without custom objects)
- ``model.weights.h5``   the same weights, for ``models.build(...)`` + ``load_weights``
- ``metadata.json``      kind, fitted schema, hyper-parameters, data range, val/test MAE
                         beside naive, parameters, epochs, timing, versions
- ``curves.png``         training/validation loss and MAE per epoch

``edgecast evaluate MODEL_DIR`` calls ``evaluate_model_dir``; the export calls
``load_model_dir`` and rebuilds the architecture from ``metadata["kind"]``/``["schema"]``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import edgecast
from edgecast import protocol
from edgecast.data import Series, load
from edgecast.schema import FeatureSchema

from . import arima, dataset, models

KINDS = [*models.MODELS, "arima"]


def _write_json_atomic(path: Path, obj: dict) -> None:
    # a reader (the export, the benchmark) never sees a half-written file
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _data_info(series: Series, limit_rows: int | None, split: str = "protocol") -> dict:
    train_end = protocol.split_rows(len(series), split)["train"][1]
    return {"sources": list(series.sources), "rows": len(series), "limit_rows": limit_rows, "split": split,
            "first": str(series.times[0]), "last": str(series.times[-1]),
            "train_first": str(series.times[0]), "train_last": str(series.times[train_end - 1]),
            "repaired": None}


def _naive(series: Series, split: str = "protocol") -> dict:
    r = protocol.evaluate(series.values, protocol.naive_predict(series.values), protocol.evaluated_parts(split), split)
    return {"naive_val_mae": r["val_mae"], "naive_test_mae": r.get("test_mae")}


def _versions() -> dict:
    out = {"edgecast": edgecast.__version__, "python": platform.python_version()}
    for name in ("tensorflow", "keras", "statsmodels", "numpy"):
        if name in sys.modules:
            out[name] = getattr(sys.modules[name], "__version__", None)
    return out


def _load_series(data_paths, series: Series | None, limit_rows: int | None) -> Series:
    series = series if series is not None else load([Path(p) for p in data_paths])
    return series.slice(0, limit_rows) if limit_rows else series


def train_arima(series: Series, out_dir: Path, limit_rows=None, log=print) -> dict:
    import statsmodels  # noqa: F401  (recorded in the versions)
    t0 = time.perf_counter()
    log("arima: fitting on the train part's hourly temperature …")
    fitted, result = arima.run(series.values)
    meta = {"kind": "arima", "arima": fitted, "data": _data_info(series, limit_rows),
            "val_mae": result["val_mae"], "test_mae": result["test_mae"],
            "val_windows": result["val_windows"], "test_windows": result["test_windows"],
            **_naive(series), "parameters": len(fitted["params"]), "trainable_parameters": len(fitted["params"]),
            "epochs_run": None, "best_epoch": None,
            "train_seconds": round(time.perf_counter() - t0, 1), "versions": _versions()}
    _write_json_atomic(out_dir / "metadata.json", meta)
    log(f"arima: val MAE {meta['val_mae']:.3f} (naive {meta['naive_val_mae']:.3f}), "
        f"test MAE {meta['test_mae']:.3f} (naive {meta['naive_test_mae']:.3f}), {meta['train_seconds']} s")
    return meta


def _plot(histories: list[dict], best_epochs: list[int], naive_val: float, path: Path, title: str) -> None:
    """Loss and MAE per epoch; an ensemble gets one pair of lines per member."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for i, (history, best) in enumerate(zip(histories, best_epochs)):
        epochs = np.arange(1, len(history["loss"]) + 1)
        tag = f" {i + 1}" if len(histories) > 1 else ""
        for ax, key in ((a, "loss"), (b, "mae")):
            train_line, = ax.plot(epochs, history[key], "o-", ms=3, alpha=0.6, label=f"training{tag}")
            ax.plot(epochs, history[f"val_{key}"], "s--", ms=3, color=train_line.get_color(),
                    label=f"validation{tag}")
            ax.axvline(best, color=train_line.get_color(), lw=0.5)
    a.set(title="loss", xlabel="epoch")
    b.axhline(naive_val, color="grey", ls=":", label=f"naive validation {naive_val:.2f}")
    b.set(title="MAE (°C)", xlabel="epoch")
    for ax in (a, b):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.legend(fontsize="x-small", ncol=2 if len(histories) > 1 else 1)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _count(weights) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _fit(model, spec, train_feed, val_feed, epochs: int, patience: int, checkpoint: Path, name: str,
         t_start: float, verbose, log) -> dict:
    """Fit one graph, keep its best validation epoch; returns the history (floats)."""
    import keras

    lr = spec.lr
    if spec.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(spec.lr, decay_steps=len(train_feed) * epochs)
    optimizer = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[spec.optimizer](lr)
    loss = {"mse": "mse", "mae": "mae", "huber": keras.losses.Huber(delta=1.0)}[spec.loss]
    model.compile(optimizer=optimizer, loss=loss, metrics=["mae"])

    class EpochLine(keras.callbacks.Callback):
        """One line per epoch, whatever Keras' own verbosity."""

        best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            mark = " *best*" if logs[spec.monitor] < self.best else ""
            self.best = min(self.best, logs[spec.monitor])
            log(f"{name} epoch {epoch + 1}/{epochs}: loss {logs['loss']:.4f} val_loss {logs['val_loss']:.4f} "
                f"mae {logs['mae']:.3f} val_mae {logs['val_mae']:.3f} °C "
                f"[{time.perf_counter() - t_start:.0f} s]{mark}")

    callbacks = [
        keras.callbacks.ModelCheckpoint(str(checkpoint), monitor=spec.monitor, save_best_only=True,
                                        save_weights_only=True),
        keras.callbacks.EarlyStopping(monitor=spec.monitor, patience=patience, restore_best_weights=True),
        EpochLine(),
    ]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 0
    history = model.fit(train_feed, validation_data=val_feed, epochs=epochs, callbacks=callbacks,
                        verbose=verbose).history
    model.load_weights(str(checkpoint))  # the best epoch, whether or not it stopped early
    checkpoint.unlink()
    return {k: [float(x) for x in v] for k, v in history.items()}


def train(kind: str, data_paths=(), out_dir="model", epochs: int | None = None, *, seed: int = 0,
          limit_rows: int | None = None, patience: int | None = None, series: Series | None = None,
          verbose: int | None = None, split: str = "protocol", log=print) -> dict:
    """Train ``kind`` on the reference protocol (or ``split="all"``) and write ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = _load_series(data_paths, series, limit_rows)
    if kind == "arima":
        if split != "protocol":
            raise ValueError("arima is fitted on the reference protocol only")
        return train_arima(series, out_dir, limit_rows, log)
    spec = models.get(kind)

    import keras
    import tensorflow as tf  # noqa: F401  (recorded in the versions)
    keras.utils.set_random_seed(seed)
    epochs = int(epochs or spec.epochs)
    patience = int(patience if patience is not None else spec.patience)

    # data -> windows
    prep = dataset.prepare(series, spec.features, split=split)
    train_feed = prep.feed("train", spec.batch_size, shuffle=True, seed=seed, stride=spec.train_stride)
    val_feed = prep.feed("val", 1024)

    # model: one graph, or an ensemble whose members are fitted one at a time
    model = models.build(kind, prep.schema)
    params, trainable = model.count_params(), _count(model.trainable_weights)
    log(f"{kind}: {trainable} trainable parameters"
        + (f" ({spec.members} members, fitted one by one)" if spec.members > 1 else "")
        + f", {len(train_feed.starts)} train / {len(val_feed.starts)} val windows, up to {epochs} epochs "
          f"(patience {patience}, best {spec.monitor} kept)")
    t_start = time.perf_counter()
    histories = []
    for i in range(spec.members):
        keras.utils.set_random_seed(seed + i)
        member = model if spec.members == 1 else models.build(kind, prep.schema, members=1)
        name = kind if spec.members == 1 else f"{kind} member {i + 1}/{spec.members}"
        histories.append(_fit(member, spec, train_feed, val_feed, epochs, patience, out_dir / "best.weights.h5",
                              name, t_start, verbose, log))
        if spec.members > 1:
            models.copy_member(member, model, i)
    train_seconds = time.perf_counter() - t_start
    model.save_weights(out_dir / "model.weights.h5")
    model.save(out_dir / "model.keras")

    # evaluation: exactly the protocol naive is measured with
    result = protocol.evaluate(prep.raw, prep.predict_fn(model), protocol.evaluated_parts(split), split)
    best_epochs = [int(np.argmin(h[spec.monitor])) + 1 for h in histories]
    best_epoch = best_epochs[0] if spec.members == 1 else best_epochs
    history = histories[0] if spec.members == 1 else histories
    info = _data_info(series, limit_rows, split)
    info["repaired"] = prep.repaired
    meta = {"kind": kind, "schema": prep.schema.to_dict(), "hyperparameters": spec.hyperparameters()
            | {"epochs": epochs, "patience": patience, "seed": seed},
            "data": info, "val_mae": result["val_mae"], "test_mae": result.get("test_mae"),
            "val_windows": result["val_windows"], "test_windows": result.get("test_windows", 0),
            **_naive(series, split),
            "parameters": int(params), "trainable_parameters": trainable,
            "epochs_run": sum(len(h["loss"]) for h in histories), "best_epoch": best_epoch,
            "train_seconds": round(train_seconds, 1), "history": history, "versions": _versions()}
    _plot(histories, best_epochs, meta["naive_val_mae"], out_dir / "curves.png", f"{kind}: {_figures(meta)}")
    _write_json_atomic(out_dir / "metadata.json", meta)
    log(f"{kind}: best epoch {best_epoch}/{meta['epochs_run']}, {_figures(meta)}, "
        f"{meta['train_seconds']:.0f} s -> {out_dir}")
    return meta


def _figures(meta: dict) -> str:
    text = f"val MAE {meta['val_mae']:.3f} (naive {meta['naive_val_mae']:.3f})"
    if meta["data"].get("split", "protocol") == "all":
        return text + " on the last 10 % (split all: no test part)"
    return text + f", test MAE {meta['test_mae']:.3f} (naive {meta['naive_test_mae']:.3f})"


def read_metadata(path) -> dict:
    path = Path(path)
    try:
        return json.loads((path / "metadata.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a model directory written by `edgecast train` ({exc})") from None


def load_model_dir(path):
    """(keras model, metadata) of a directory written by ``train`` (ARIMA: model is None)."""
    path = Path(path)
    meta = read_metadata(path)
    if meta["kind"] == "arima":
        return None, meta
    import keras
    return keras.models.load_model(path / "model.keras", compile=False), meta


def evaluate_model_dir(path, series: Series) -> dict:
    """The reference-protocol figures of a trained model directory on ``series``."""
    model, meta = load_model_dir(path)
    if meta["kind"] == "arima":
        result = arima.run(series.values, fitted=meta["arima"])[1]
    else:
        schema = FeatureSchema.from_dict(meta["schema"])
        prep = dataset.prepare(series, schema.features, schema=schema)  # the trained statistics
        result = protocol.evaluate(prep.raw, prep.predict_fn(model))
    return {k: result[k] for k in ("val_mae", "test_mae", "val_windows", "test_windows")}
