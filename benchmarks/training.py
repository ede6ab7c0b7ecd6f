"""Training cost of a model on this machine: time per epoch, total, and the data
pipeline's share (needs the [train] extra: TensorFlow).

    python -m benchmarks.training [--kind compact_lstm] [--repeats 3]

Runs ``training.train.train`` unchanged (the same call as ``edgecast train KIND``); the
benchmark only listens in: a Keras callback added to every ``fit`` notes each epoch's
wall time and its validation pass, and ``WindowFeed.__getitem__`` is timed (the windows
are cut from the normalised series by numpy on the training thread: Keras' PyDataset
with one worker fetches batches synchronously, so their time is the pipeline's share).
Loading the CSV and preparing the series is timed on its own. Medians over repeats
(each a full training with the same seed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("EDGECAST_DATA") or ROOT.parent / "shared" / "data" / "weather.csv.xz")


def run(kind: str, data: Path, seed: int) -> dict:
    import keras

    from edgecast.data import load
    from training import dataset
    from training.train import train

    t0 = time.perf_counter()
    series = load([data])
    load_s = time.perf_counter() - t0

    epochs, fetch = [], [0.0]

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()
            self.fetch0 = fetch[0]
            self.val = 0.0

        def on_test_begin(self, logs=None):
            self.tv = time.perf_counter()

        def on_test_end(self, logs=None):
            self.val += time.perf_counter() - self.tv

        def on_epoch_end(self, epoch, logs=None):
            epochs.append({"seconds": time.perf_counter() - self.t, "val_seconds": self.val,
                           "fetch_seconds": fetch[0] - self.fetch0})

    orig_fit, orig_get, orig_prepare = keras.Model.fit, dataset.WindowFeed.__getitem__, dataset.prepare
    prepare_s = [0.0]

    def prepare(*a, **kw):  # normalising the series and listing the window starts, once per training
        t = time.perf_counter()
        try:
            return orig_prepare(*a, **kw)
        finally:
            prepare_s[0] += time.perf_counter() - t

    def fit(self, *a, callbacks=None, **kw):
        return orig_fit(self, *a, callbacks=list(callbacks or []) + [EpochTimer()], **kw)

    def getitem(self, i):
        t = time.perf_counter()
        try:
            return orig_get(self, i)
        finally:
            fetch[0] += time.perf_counter() - t

    keras.Model.fit, dataset.WindowFeed.__getitem__, dataset.prepare = fit, getitem, prepare
    try:
        with tempfile.TemporaryDirectory(prefix="edgecast-train-bench-") as out:
            t0 = time.perf_counter()
            meta = train(kind, out_dir=out, seed=seed, series=series, verbose=0, log=lambda *_: None)
            total = time.perf_counter() - t0
    finally:
        keras.Model.fit, dataset.WindowFeed.__getitem__, dataset.prepare = orig_fit, orig_get, orig_prepare
    return {"load_s": load_s, "prepare_s": prepare_s[0], "total_s": total, "epochs": epochs,
            "train_seconds": meta["train_seconds"],
            "epochs_run": meta["epochs_run"], "val_mae": meta.get("val_mae"),
            "params": meta.get("parameters") or meta.get("params")}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kind", default="compact_lstm")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    runs = []
    for i in range(args.repeats):
        r = run(args.kind, args.data, args.seed)
        ep = [e["seconds"] for e in r["epochs"]]
        fetch = sum(e["fetch_seconds"] for e in r["epochs"])
        val = sum(e["val_seconds"] for e in r["epochs"])
        r.update(epoch_median=statistics.median(ep), fetch_share=fetch / sum(ep), val_share=val / sum(ep),
                 fit_sum=sum(ep), pipeline_share=(fetch + r["prepare_s"]) / r["total_s"])
        runs.append(r)
        print(f"run {i + 1}: {args.kind}: {r['epochs_run']} epochs, median {r['epoch_median']:.2f} s/epoch "
              f"(validation pass {100 * r['val_share']:.0f} % of it), training {r['total_s']:.1f} s "
              f"(fit {r['fit_sum']:.1f} s), data pipeline: batch fetch {100 * r['fetch_share']:.1f} % of fit time, "
              f"preparing the series {r['prepare_s']:.2f} s; together {100 * r['pipeline_share']:.1f} % of training; "
              f"loading the CSV {r['load_s']:.1f} s; val MAE {r['val_mae']}", flush=True)
    med = lambda k: statistics.median(r[k] for r in runs)  # noqa: E731
    print(f"median of {len(runs)}: {med('epoch_median'):.2f} s/epoch, total {med('total_s'):.1f} s "
          f"+ {med('load_s'):.1f} s loading; data pipeline {100 * med('fetch_share'):.1f} % of fit time, "
          f"{100 * med('pipeline_share'):.1f} % of training with the series preparation, "
          f"validation pass {100 * med('val_share'):.0f} % of an epoch")


if __name__ == "__main__":
    main()
