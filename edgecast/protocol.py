"""The reference protocol (DESIGN.md): splits, windows, targets and the MAE metric.

It reproduces Keras ``timeseries_dataset_from_array(data[:-delay], targets[delay:],
sampling_rate=6, sequence_length=120, start_index=…, end_index=…)`` as used in the
Keras book, without TensorFlow:

- rows split in order: first 50 % train, next 25 % validation, last 25 % test;
- every row of a part starts a window whose 120 hourly steps lie inside the part
  (the test part ends ``delay`` rows before the end of the file);
- window at start row ``s`` reads rows ``s, s+6, …, s+714``; its target is the raw
  temperature at row ``s + delay`` with ``delay = 6·(120+24−1) = 858``,
  i.e. 24 hours after the last input step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .schema import DELAY_ROWS, ROWS_PER_STEP, TARGET_INDEX, WINDOW_STEPS

PARTS = ("train", "val", "test")
_SPAN = (WINDOW_STEPS - 1) * ROWS_PER_STEP  # rows from first to last input step

# "protocol": the reference protocol, 50/25/25 % — every figure we publish uses it.
# "all": for the model a box should run once the protocol figures are known: fit on the
# first 90 %, stop early on the last 10 %; there is no test part, so no test figure.
SPLITS = ("protocol", "all")


def split_rows(n_rows: int, split: str = "protocol") -> dict[str, tuple[int, int]]:
    """Row range [start, end) of each part, as Keras start_index/end_index."""
    if split == "all":
        n_train = int(0.9 * n_rows)
        return {"train": (0, n_train), "val": (n_train, n_rows - DELAY_ROWS),
                "test": (n_rows - DELAY_ROWS, n_rows - DELAY_ROWS)}
    if split != "protocol":
        raise ValueError(f"unknown split {split!r}; choose from {SPLITS}")
    n_train = int(0.5 * n_rows)
    n_val = int(0.25 * n_rows)
    return {
        "train": (0, n_train),
        "val": (n_train, n_train + n_val),
        "test": (n_train + n_val, n_rows - DELAY_ROWS),
    }


def evaluated_parts(split: str = "protocol") -> tuple[str, ...]:
    return ("val", "test") if split == "protocol" else ("val",)


def window_starts(n_rows: int, part: str, split: str = "protocol") -> np.ndarray:
    start, end = split_rows(n_rows, split)[part]
    n = min(end - start - _SPAN, n_rows - DELAY_ROWS)
    if n <= 0:
        raise ValueError(f"{n_rows} rows are too few for a {part} window of the {split} split: the part has "
                         f"{max(end - start, 0)} rows, a window and its target need {DELAY_ROWS + 1}")
    return start + np.arange(n)


def step_rows(starts: np.ndarray) -> np.ndarray:
    """(n, 120) row index of every input step of every window."""
    return starts[:, None] + ROWS_PER_STEP * np.arange(WINDOW_STEPS)[None, :]


def last_step_rows(starts: np.ndarray) -> np.ndarray:
    return starts + _SPAN


def target_rows(starts: np.ndarray) -> np.ndarray:
    return starts + DELAY_ROWS


def windows(columns: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Gather (n, 120, F) float32 windows from per-row feature columns."""
    return columns[step_rows(starts)].astype(np.float32, copy=False)


def batches(columns: np.ndarray, starts: np.ndarray, batch_size: int = 1024) -> Iterator[np.ndarray]:
    for i in range(0, len(starts), batch_size):
        yield windows(columns, starts[i:i + batch_size])


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(predicted, dtype=np.float64) - actual)))


def evaluate(
    raw_values: np.ndarray,
    predict: Callable[[np.ndarray], np.ndarray],
    parts: tuple[str, ...] = ("val", "test"),
    split: str = "protocol",
) -> dict:
    """MAE per part of ``predict(starts) -> °C`` against the raw target temperature.

    ``predict`` receives window start rows, so any model (naive, ARIMA, Keras, TFLite)
    can be measured by exactly the same code.
    """
    result = {}
    temperature = raw_values[:, TARGET_INDEX]
    for part in parts:
        starts = window_starts(len(raw_values), part, split)
        result[f"{part}_mae"] = round(mae(predict(starts), temperature[target_rows(starts)]), 4)
        result[f"{part}_windows"] = int(len(starts))
    return result


def naive_predict(raw_values: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The naive forecast: temperature in 24 h = temperature at the last input step."""
    temperature = raw_values[:, TARGET_INDEX]
    return lambda starts: temperature[last_step_rows(starts)]
