"""Step 2 of the story: raw station rows -> normalised feature columns -> Keras batches.

``prepare`` does the work once per file; ``WindowFeed`` then gathers the reference
protocol's windows batch by batch from the (rows, F) column array, so the (windows,
120, F) tensor is never materialised — the 420k-row Keras file would need ~20 GB for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from edgecast import features, protocol
from edgecast.data import Series
from edgecast.data.clean import invalid_mask, repair
from edgecast.schema import TARGET_INDEX, FeatureSchema


@dataclass
class Prepared:
    """One data set ready for a model with the given feature list."""

    schema: FeatureSchema  # features + mean/std fitted on the train part
    columns: np.ndarray  # (rows, F) float32, normalised, from repaired values
    raw: np.ndarray  # (rows, 14) raw values as loaded: targets come from here, never repaired
    times: np.ndarray
    sources: list[str]
    repaired: dict[str, int]  # channel -> values repaired
    split: str = "protocol"  # edgecast.protocol.SPLITS

    @property
    def n_rows(self) -> int:
        return len(self.raw)

    def starts(self, part: str) -> np.ndarray:
        return protocol.window_starts(self.n_rows, part, self.split)

    def targets(self, starts: np.ndarray) -> np.ndarray:
        return self.raw[protocol.target_rows(starts), TARGET_INDEX].astype(np.float32)

    def trainable_starts(self, part: str) -> np.ndarray:
        """Window starts for fitting: those whose raw target is a valid reading.

        Evaluation always uses every window (protocol.evaluate); fitting on a -9999
        target would only teach the model the sentinel.
        """
        starts = self.starts(part)
        bad = invalid_mask(self.raw)[protocol.target_rows(starts), TARGET_INDEX]
        return starts[~bad]

    def feed(self, part: str, batch_size: int, *, shuffle: bool = False, seed: int = 0, stride: int = 1):
        """Batches of ``part``'s windows; ``stride`` keeps every n-th (for fitting only)."""
        return WindowFeed(self, self.trainable_starts(part)[::stride], batch_size, shuffle=shuffle, seed=seed)

    def predict_fn(self, model, batch_size: int = 1024):
        """``predict(starts) -> °C`` for edgecast.protocol.evaluate."""
        def predict(starts: np.ndarray) -> np.ndarray:
            out = [np.asarray(model.predict_on_batch(x)).reshape(-1)
                   for x in protocol.batches(self.columns, starts, batch_size)]
            return np.concatenate(out) if out else np.zeros(0, np.float32)
        return predict


def prepare(series: Series, feature_names: list[str], schema: FeatureSchema | None = None,
            split: str = "protocol") -> Prepared:
    """Repair, compute the columns, fit mean/std on the train rows only, normalise.

    Pass ``schema`` (with fitted statistics, e.g. from a model's metadata) to reuse its
    statistics instead of fitting new ones — that is how a trained model is evaluated.
    """
    values, repaired = repair(series.values)
    columns = features.compute_columns(list(feature_names), values, series.times)
    if schema is None:
        train_end = protocol.split_rows(len(series), split)["train"][1]
        schema = features.fit_statistics(FeatureSchema(list(feature_names)), columns[:train_end])
    elif list(schema.features) != list(feature_names):
        raise ValueError(f"schema features {schema.features} != requested {feature_names}")
    return Prepared(schema, features.normalise(schema, columns), series.values, series.times,
                    list(series.sources), repaired, split)


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
        return protocol.windows(self.prepared.columns, s), self.prepared.targets(s)[:, None]

    def on_epoch_end(self):
        if self.shuffle:
            self._rng.shuffle(self.starts)
