"""Step 2 of the story: raw station rows -> normalised feature columns -> Keras batches.

``prepare`` does the work once per data set and protocol (edgecast.protocol: rows of one
file, or the hourly grid of several); ``WindowFeed`` then gathers the windows batch by
batch from the (rows, F) column array, so the (windows, 120, F) tensor is never
materialised — the 420k-row Keras file would need ~20 GB for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from edgecast import features, protocol
from edgecast.band import median_index
from edgecast.data import Series
from edgecast.data.clean import invalid_mask
from edgecast.schema import TARGET_INDEX, FeatureSchema


@dataclass
class Prepared:
    """One data set under one protocol, ready for a model with the given feature list."""

    schema: FeatureSchema  # features + mean/std fitted on the train rows
    columns: np.ndarray  # (rows, F) float32, normalised
    layout: protocol.Layout  # rows, step geometry, each part's window starts, raw targets
    horizons: int = 1  # 1: the +24 h target; 24: the curve +1 … +24 h (protocol.curve_targets)
    # a distilled kind's second target: (window starts, ascending; (n, 24) °C of the teacher there)
    teacher: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def protocol(self) -> str:
        return self.layout.protocol

    def starts(self, part: str) -> np.ndarray:
        return self.layout.starts(part)

    def targets(self, starts: np.ndarray) -> np.ndarray:
        """°C: (n,) at +24 h, or (n, 24) for a curve model; with a teacher (n, 48): the
        curve, then the teacher's curve for the same windows."""
        if self.horizons == 1:
            return self.layout.targets(starts).astype(np.float32)
        curve = protocol.curve_targets(self.layout, starts).astype(np.float32)
        if self.teacher is None:
            return curve
        keys, values = self.teacher
        at = np.minimum(np.searchsorted(keys, starts), len(keys) - 1)
        if not np.array_equal(keys[at], starts):
            raise ValueError("the teacher has no forecast for some of these windows")
        return np.concatenate([curve, values[at]], axis=1)

    def trainable_starts(self, part: str) -> np.ndarray:
        """Window starts for fitting: those whose raw target is a valid reading.

        Evaluation always uses every window of a part (protocol.evaluate); fitting on a
        -9999 target would only teach the model the sentinel.
        """
        starts = self.starts(part)
        if self.horizons > 1:  # a curve is fitted where all 24 hours were measured
            return starts[np.isfinite(protocol.curve_targets(self.layout, starts)).all(axis=1)]
        bad = invalid_mask(self.layout.raw)[self.layout.target_rows(starts), TARGET_INDEX]
        return starts[~bad]

    def feed(self, part: str, batch_size: int, *, shuffle: bool = False, seed: int = 0, stride: int = 1):
        """Batches of ``part``'s windows; ``stride`` keeps every n-th (for fitting only)."""
        return WindowFeed(self, self.trainable_starts(part)[::stride], batch_size, shuffle=shuffle, seed=seed)

    def predict_fn(self, model, batch_size: int = 1024, curve: bool = False, levels=None):
        """``predict(starts) -> °C`` at +24 h for edgecast.protocol.evaluate, or with
        ``curve`` the (n, 24) curve for protocol.evaluate_horizons. A band model (quantile
        ``levels``) is scored by its median, the point forecast it serves."""
        point = None if levels is None else median_index(levels)

        def predict(starts: np.ndarray) -> np.ndarray:
            out = [np.asarray(model.predict_on_batch(x)) for x in self.layout.batches(self.columns, starts, batch_size)]
            out = [(x if point is None else x[..., point]).reshape(len(x), -1) for x in out]
            out = np.concatenate(out) if out else np.zeros((0, self.horizons), np.float32)
            return out if curve else out[:, -1]  # the last output is +24 h in both forms
        return predict


def prepare(series: Series, feature_names: list[str], schema: FeatureSchema | None = None,
            protocol_name: str = "seed", horizons: int = 1) -> Prepared:
    """Lay out the protocol's windows, compute the columns, fit mean/std on the train rows.

    Pass ``schema`` (with fitted statistics, e.g. from a model's metadata) to reuse its
    statistics instead of fitting new ones — that is how a trained model is evaluated.
    """
    layout = protocol.layout(protocol_name, series, features.required_channels(feature_names))
    columns = features.compute_columns(list(feature_names), layout.clean, layout.times, layout.location)
    if schema is None:
        schema = features.fit_statistics(FeatureSchema(list(feature_names)), columns[layout.train_rows])
    elif list(schema.features) != list(feature_names):
        raise ValueError(f"schema features {schema.features} != requested {feature_names}")
    return Prepared(schema, features.normalise(schema, columns), layout, horizons)


class WindowFeed(keras.utils.PyDataset):
    """Batch i = (windows of starts[i*b:(i+1)*b], raw target °C); reshuffled every epoch."""

    def __init__(self, prepared: Prepared, starts: np.ndarray, batch_size: int, *,
                 shuffle: bool = False, seed: int = 0):
        super().__init__()
        self.prepared, self.batch_size, self.shuffle = prepared, int(batch_size), shuffle
        self.starts = np.asarray(starts).copy()
        self._rng = np.random.default_rng(seed)
        if shuffle:
            self._rng.shuffle(self.starts)

    def __len__(self):
        return int(np.ceil(len(self.starts) / self.batch_size))

    def __getitem__(self, i):
        s = self.starts[i * self.batch_size:(i + 1) * self.batch_size]
        return self.prepared.layout.windows(self.prepared.columns, s), self.prepared.targets(s).reshape(len(s), -1)

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self.starts)
