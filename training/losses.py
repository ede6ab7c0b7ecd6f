"""The band kinds' loss and their point metric (Keras ops; imported when one is fitted).

A band model outputs (batch, horizons, Q) °C at ascending levels with the median among
them, built as median ∓ softplus gaps (training.models). ``band_loss``:

    Huber(δ = 1 °C) on the median  +  Σ over the outer levels of the pinball loss

where the outer quantiles enter the pinball loss as stop_gradient(median) ∓ gap: each
outer level's loss moves its gap (and the layers under it), never the median itself. A
plain pinball over the three levels would fit the median by its absolute error and let
the outer levels pull on it; this way the median is fitted exactly as the point curve
kinds are (their Huber loss), which is what keeps the point forecast as good as theirs.
"""

from __future__ import annotations

import keras
from keras import ops

from edgecast.band import median_index

HUBER_DELTA_C = 1.0  # the compact recipe's (training.models.COMPACT_LOSS)


def pinball(y, q, level: float):
    """Mean over the last axis of the pinball (quantile) loss of ``q`` at ``level``."""
    d = y - q
    return ops.mean(ops.maximum(level * d, (level - 1.0) * d), axis=-1)


def _huber(y, q, weights=None):
    """Mean over the last axis of Huber(δ = HUBER_DELTA_C), each horizon weighted (mean weight 1)."""
    if weights is None:
        return keras.losses.huber(y, q, delta=HUBER_DELTA_C)
    e = ops.abs(y - q)
    per = ops.where(e <= HUBER_DELTA_C, 0.5 * e * e, HUBER_DELTA_C * e - 0.5 * HUBER_DELTA_C ** 2)
    return ops.mean(per * ops.convert_to_tensor(weights, dtype=per.dtype), axis=-1)


def band_loss(levels, horizon_weights=None, teacher_weight: float | None = None):
    """``horizon_weights`` (H,), mean 1: the median's Huber loss per horizon weighted so
    (None: equal), for a band kind whose late hours must match a dedicated +24 h model.

    ``teacher_weight`` λ (a distilled kind): y_true is (batch, 2H), the real curve then a
    teacher's curve for the same windows; the median's loss is (1 − λ)·Huber(y, median) +
    λ·Huber(teacher, median), the outer levels' pinball stays against the real y."""
    mid = median_index(levels)

    def loss(y_true, y_pred):
        median = y_pred[..., mid]
        held = ops.stop_gradient(median)
        y_true, teacher = y_true[..., :median.shape[-1]], y_true[..., median.shape[-1]:]
        total = _huber(y_true, median, horizon_weights)
        if teacher_weight is not None:
            total = (1.0 - teacher_weight) * total + teacher_weight * _huber(teacher, median, horizon_weights)
        for i, level in enumerate(levels):
            if i != mid:  # held + (outer − median): the value of the outer quantile, the gradient of its gap
                total = total + pinball(y_true, held + (y_pred[..., i] - median), level)
        return total
    return loss


def median_mae(levels):
    """The point forecast's MAE (°C) against the real curve (a distilled kind's y_true also
    carries the teacher's after it), logged and monitored as ``mae``/``val_mae``."""
    mid = median_index(levels)

    def mae(y_true, y_pred):
        median = y_pred[..., mid]
        return ops.mean(ops.abs(y_true[..., :median.shape[-1]] - median), axis=-1)
    return mae
