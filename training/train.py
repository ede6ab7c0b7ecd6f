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
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

import edgecast
from edgecast import atomic, protocol
from edgecast.data import Series, load
from edgecast.schema import FeatureSchema

from . import arima, dataset, kinds, models, peers


@dataclass(frozen=True)
class Run:
    """The options of one `edgecast train` run; a kind reads those it honours
    (kinds.Family.options) and leaves the others at None."""

    protocol_name: str = "seed"
    seed: int = 0
    epochs: int | None = None
    patience: int | None = None
    train_stride: int | None = None
    limit_rows: int | None = None
    verbose: int | None = None
    log: Callable = field(default=print)


def _write_json_atomic(path: Path, obj: dict) -> None:
    # a reader (the export, the benchmark) never sees a half-written file
    atomic.write(path, json.dumps(obj, indent=2) + "\n")


def _versions() -> dict:
    out = {"edgecast": edgecast.__version__, "python": platform.python_version()}
    for name in ("tensorflow", "keras", "statsmodels", "lightgbm", "numpy"):
        if name in sys.modules:
            out[name] = getattr(sys.modules[name], "__version__", None)
    return out


def _load_series(data_paths, series: Series | None, limit_rows: int | None) -> Series:
    series = series if series is not None else load([Path(p) for p in data_paths])
    return series.slice(0, limit_rows) if limit_rows else series


def fit_arima(kind: str, series: Series, out_dir: Path, run: Run) -> dict:
    import statsmodels  # noqa: F401  (recorded in the versions)
    t0, log = time.perf_counter(), run.log
    log("arima: fitting on the train part's hourly temperature …")
    layout = protocol.layout(run.protocol_name, series)
    fitted, result = arima.run(layout)
    meta = {"kind": kind, "arima": fitted, "data": layout.data_range() | {"limit_rows": run.limit_rows},
            **result, "parameters": len(fitted["params"]), "trainable_parameters": len(fitted["params"]),
            "epochs_run": None, "best_epoch": None,
            "train_seconds": round(time.perf_counter() - t0, 1), "versions": _versions()}
    _write_json_atomic(out_dir / "metadata.json", meta)
    log(f"arima: val MAE {meta['val_mae']:.3f} (naive {meta['naive_val_mae']:.3f}), "
        f"test MAE {meta['test_mae']:.3f} (naive {meta['naive_test_mae']:.3f}), {meta['train_seconds']} s")
    return meta


def evaluate_arima(path: Path, meta: dict, series: Series, protocol_name: str) -> dict:
    """ARIMA's fitted parameters, filtered through ``series`` (no re-fit)."""
    return arima.run(protocol.layout(protocol_name, series), fitted=meta["arima"])[1]


def fit_peer(kind: str, series: Series, out_dir: Path, run: Run) -> dict:
    """ridge / lightgbm (training.peers): the same windows and scoring, no Keras model."""
    meta = peers.train(kind, series, out_dir, seed=run.seed, protocol_name=run.protocol_name, log=run.log)
    meta["data"] |= {"limit_rows": run.limit_rows}
    meta["versions"] = _versions()
    _write_json_atomic(out_dir / "metadata.json", meta)
    run.log(f"{kind}: {meta['fit']}, {figures(meta)}, {meta['train_seconds']:.0f} s -> {out_dir}")
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
            if f"val_{key}" in history:  # protocol final has no validation part
                ax.plot(epochs, history[f"val_{key}"], "s--", ms=3, color=train_line.get_color(),
                        label=f"validation{tag}")
            ax.axvline(best, color=train_line.get_color(), lw=0.5)
    a.set(title="loss", xlabel="epoch")
    if naive_val is not None:
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
    """Fit one graph, keep its best validation epoch (no validation: the last); returns the history."""
    import keras

    lr = spec.lr
    if spec.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(spec.lr, decay_steps=len(train_feed) * epochs)
    optimizer = {"rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam}[spec.optimizer](lr)
    if spec.loss == "band":  # a band kind: Huber on the median, pinball on the outer levels
        from .losses import band_loss, median_mae
        loss = band_loss(spec.quantiles, spec.extra.get("horizon_weights"), spec.extra.get("teacher_weight"))
        metric = median_mae(spec.quantiles)
    else:
        loss, metric = {"mse": "mse", "mae": "mae", "huber": keras.losses.Huber(delta=1.0)}[spec.loss], "mae"
    model.compile(optimizer=optimizer, loss=loss, metrics=[metric])

    class EpochLine(keras.callbacks.Callback):
        """One line per epoch, whatever Keras' own verbosity."""

        best = np.inf

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            line = f"{name} epoch {epoch + 1}/{epochs}: loss {logs['loss']:.4f} mae {logs['mae']:.3f} °C"
            if val_feed is not None:
                mark = " *best*" if logs[spec.monitor] < self.best else ""
                self.best = min(self.best, logs[spec.monitor])
                line += f" val_loss {logs['val_loss']:.4f} val_mae {logs['val_mae']:.3f} °C{mark}"
            log(f"{line} [{time.perf_counter() - t_start:.0f} s]")

    callbacks = [EpochLine()]
    if val_feed is not None:  # keep the best validation epoch; without one, train all epochs
        callbacks += [
            # mode: Keras guesses it from the name only for its own metrics (a band kind's mae is ours)
            keras.callbacks.ModelCheckpoint(str(checkpoint), monitor=spec.monitor, mode="min", save_best_only=True,
                                            save_weights_only=True),
            keras.callbacks.EarlyStopping(monitor=spec.monitor, mode="min", patience=patience,
                                          restore_best_weights=True)]
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 0
    history = model.fit(train_feed, validation_data=val_feed, epochs=epochs, callbacks=callbacks,
                        verbose=verbose).history
    if val_feed is not None:
        model.load_weights(str(checkpoint))  # the best epoch, whether or not it stopped early
        checkpoint.unlink()
    return {k: [float(x) for x in v] for k, v in history.items()}


def train(kind: str, data_paths=(), out_dir="model", epochs: int | None = None, *, seed: int = 0,
          limit_rows: int | None = None, patience: int | None = None, series: Series | None = None,
          verbose: int | None = None, protocol_name: str = "seed", train_stride: int | None = None,
          log=print) -> dict:
    """Train ``kind`` (training.kinds) on ``protocol_name`` (edgecast.protocol.PROTOCOLS) and
    write ``out_dir``.

    ``epochs``, ``patience``, ``train_stride`` (fit on every n-th train window): the Keras
    kinds' own when None; ARIMA and the peers take none of them and use every window.
    """
    entry = kinds.get(kind)
    if not entry.trainable:
        raise ValueError(f"{kind} has nothing to fit: `edgecast evaluate naive` scores it")
    if not entry.runs_on(protocol_name):
        raise ValueError(f"{kind} runs on the {', '.join(entry.family.protocols)} protocols only, "
                         f"not {protocol_name}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    series = _load_series(data_paths, series, limit_rows)
    run = Run(protocol_name, seed, epochs, patience, train_stride, limit_rows, verbose, log)
    return entry.family.fitter()(kind, series, out_dir, run)


def fit_keras(kind: str, series: Series, out_dir: Path, run: Run) -> dict:
    """A Keras recipe (training.models): fitted member by member, best validation epoch kept."""
    spec = models.get(kind)
    protocol_name, seed, limit_rows, verbose, log = run.protocol_name, run.seed, run.limit_rows, run.verbose, run.log
    epochs, patience, train_stride = run.epochs, run.patience, run.train_stride

    import keras
    import tensorflow as tf  # noqa: F401  (recorded in the versions)
    keras.utils.set_random_seed(seed)
    epochs = int(epochs or spec.epochs)
    patience = int(patience if patience is not None else spec.patience)
    train_stride = int(train_stride or spec.train_stride)

    # data -> windows
    prep = dataset.prepare(series, spec.features, protocol_name=protocol_name, horizons=spec.horizons)
    if spec.extra.get("teacher_weight") is not None:  # distilled: the shipped bundle's curve, a second target
        from .teacher import teacher_curves
        keys = np.sort(np.concatenate([prep.trainable_starts(p) for p in ("train", "val") if p in prep.layout.parts]))
        prep.teacher = (keys, teacher_curves(prep.layout, series, keys, log=log))
    train_feed = prep.feed("train", spec.batch_size, shuffle=True, seed=seed, stride=train_stride)
    val_feed = prep.feed("val", 1024) if "val" in prep.layout.parts else None
    if val_feed is None:
        epochs = int(spec.final_epochs or epochs)

    # model: one graph, or an ensemble whose members are fitted one at a time
    model = models.build(kind, prep.schema)
    params, trainable = model.count_params(), _count(model.trainable_weights)
    log(f"{kind}: {trainable} trainable parameters"
        + (f" ({spec.members} members, fitted one by one)" if spec.members > 1 else "")
        + f", {protocol_name} protocol: {len(train_feed.starts)} train windows, "
        + (f"{len(val_feed.starts)} val windows, up to {epochs} epochs (patience {patience}, best {spec.monitor} kept)"
           if val_feed is not None else f"no validation part: {epochs} epochs"))
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
    log(f"{kind}: scoring on the {protocol_name} protocol's held-out parts …")
    result = protocol.evaluate(prep.layout, prep.predict_fn(model, levels=spec.quantiles))
    if spec.horizons > 1:  # the curve beside both naive curves, per horizon
        result["by_horizon"] = protocol.evaluate_horizons(
            prep.layout, {"model": prep.predict_fn(model, curve=True, levels=spec.quantiles)})
    key = spec.monitor if val_feed is not None else "loss"
    best_epochs = [int(np.argmin(h[key])) + 1 if val_feed is not None else len(h[key]) for h in histories]
    best_epoch = best_epochs[0] if spec.members == 1 else best_epochs
    history = histories[0] if spec.members == 1 else histories
    meta = {"kind": kind, "schema": prep.schema.to_dict(), "hyperparameters": spec.hyperparameters()
            | {"epochs": epochs, "patience": patience, "seed": seed, "train_stride": train_stride},
            "data": prep.layout.data_range() | {"limit_rows": limit_rows},
            "val_mae": None, "test_mae": None, "naive_val_mae": None, "naive_test_mae": None, **result,
            "parameters": int(params), "trainable_parameters": trainable,
            "epochs_run": sum(len(h["loss"]) for h in histories), "best_epoch": best_epoch,
            "train_seconds": round(train_seconds, 1), "history": history, "versions": _versions()}
    _plot(histories, best_epochs, meta["naive_val_mae"], out_dir / "curves.png", f"{kind}: {figures(meta)}")
    _write_json_atomic(out_dir / "metadata.json", meta)
    log(f"{kind}: best epoch {best_epoch}/{meta['epochs_run']}, {figures(meta)}, "
        f"{meta['train_seconds']:.0f} s -> {out_dir}")
    return meta


def figures(meta: dict) -> str:
    """One line of a model's protocol figures beside naive's."""
    parts = [f"{part} MAE {meta[f'{part}_mae']:.3f} (naive {meta[f'naive_{part}_mae']:.3f})"
             for part in ("val", "test") if meta.get(f"{part}_mae") is not None]
    return ", ".join(parts) or f"{meta['data'].get('protocol')} protocol: no held-out part, no figure"


def read_metadata(path) -> dict:
    path = Path(path)
    try:
        return json.loads((path / "metadata.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a model directory written by `edgecast train` ({exc})") from None


def load_model_dir(path):
    """(keras model, metadata) of a directory written by ``train``; the model is None for a
    kind that is not a Keras network (kinds.Family.exportable: ARIMA, the peers)."""
    path = Path(path)
    meta = read_metadata(path)
    if not kinds.get(meta["kind"]).family.exportable:
        return None, meta
    import keras
    return keras.models.load_model(path / "model.keras", compile=False), meta


def evaluate_model_dir(path, series: Series, protocol_name: str = "seed") -> dict:
    """The ``protocol_name`` figures of a trained model directory on ``series``, scored as
    its kind says (training.kinds)."""
    meta = read_metadata(path)
    return kinds.get(meta["kind"]).family.evaluator()(Path(path), meta, series, protocol_name)


def evaluate_keras(path: Path, meta: dict, series: Series, protocol_name: str) -> dict:
    model, _ = load_model_dir(path)
    schema = FeatureSchema.from_dict(meta["schema"])
    prep = dataset.prepare(series, schema.features, schema=schema, protocol_name=protocol_name)  # trained statistics
    return protocol.evaluate(prep.layout, prep.predict_fn(model, levels=meta["hyperparameters"].get("quantiles")))
