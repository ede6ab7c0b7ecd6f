"""The band: per-hour quantiles turned into probabilities (numpy only).

A quantile bundle forecasts, for each hour +1 … +24 h, the temperatures below which the
measured one falls with probability ``levels`` (ascending, 0.5 among them: the median is
the point forecast). The box, the offline scores and the plots all read them through
this module, so a probability means the same everywhere.

The distribution of one hour (``cdf``):

- between two quantiles the CDF is linear (the knots ``(q_k, level_k)``): no shape is
  assumed where the model said something;
- beyond the outer quantiles a normal tail, one per side, centred on the median and
  scaled so that it passes through the outer knot (below the lowest quantile
  ``F(x) = Φ((x − q50) / σ_lo)`` with ``σ_lo = (q50 − q_lo) / −z(level_lo)``). The CDF is
  continuous, an asymmetric band gets asymmetric tails, and a cold night 3 °C below the
  10 % quantile gets a small but not zero probability, as a Gaussian error would.

``frost_probability``: the probability that any of the next 24 hours goes below a
threshold. The hours' errors are strongly correlated (one air mass, one cloud cover), so
the events "hour h below c" are nested far more than independent: the probability that
the minimum goes below ``c`` lies between ``max_h P(T_h < c)`` (the lower bound, reached
when the errors move together) and ``1 − Π_h (1 − P(T_h < c))`` (independent errors).
Both rules are here; ``FROST_COMBINE`` names the one chosen on the validation parts
(BENCHMARKS.md, "How sure: the band").

``recalibrate``: the combined probability is then mapped through a logistic curve,
``σ(a·logit(p) + b)`` (Platt scaling), fitted on the validation parts by least Brier
score (``python -m training.scripts.band_scores --recalibration``). On those parts the
"max" probability is too timid: a forecast 0.15 came true 5–15 % of the time, one of 0.65
80 %; a slope above 1 makes it bolder, and keeps 0 at 0, 1 at 1 and the order of any two
forecasts.
"""

from __future__ import annotations

import math

import numpy as np

try:  # the C routine statistics.NormalDist.inv_cdf calls: the same z without importing statistics,
    # whose fractions and decimal cost the daemon 0.5 MB resident (BENCHMARKS.md, footprint)
    from _statistics import _normal_dist_inv_cdf
except ImportError:  # another Python: NormalDist itself
    def _normal_dist_inv_cdf(p: float, mu: float, sigma: float) -> float:
        from statistics import NormalDist
        return NormalDist(mu, sigma).inv_cdf(p)

MEDIAN = 0.5
MIN_SPREAD_C = 1e-3  # a tail narrower than this is a step: the model is sure
_erf_cdf = np.frompyfunc(lambda z: 0.5 * (1.0 + math.erf(z / math.sqrt(2.0))), 1, 1)  # NormalDist().cdf
COMBINE_RULES = ("max", "independent")
FROST_COMBINE = "max"
FROST_RECALIBRATION = (1.85, 0.378)  # (a, b), fitted on Jena 2021 and the validation places
LOGIT_EDGE = 1e-6  # probabilities are clipped this far inside (0, 1) before the logit


def check_levels(levels) -> list[float]:
    """``levels`` as a list of floats: strictly ascending, inside (0, 1), 0.5 among them;
    ValueError saying what is wrong otherwise (the bundle reader turns it into a refusal)."""
    try:
        out = [float(x) for x in levels]
    except (TypeError, ValueError):
        raise ValueError(f"quantile levels {str(levels)[:60]} are not a list of numbers") from None
    if len(out) < 2 or any(not 0.0 < x < 1.0 for x in out) or any(b <= a for a, b in zip(out, out[1:])):
        raise ValueError(f"quantile levels {out} are not at least two strictly ascending numbers inside (0, 1)")
    if MEDIAN not in out:
        raise ValueError(f"quantile levels {out} lack the median 0.5 (the point forecast)")
    return out


def median_index(levels) -> int:
    return check_levels(levels).index(MEDIAN)


def crossing(quantiles: np.ndarray) -> bool:
    """True when some hour's quantiles are not ascending (a broken model: refuse to serve)."""
    return bool((np.diff(np.asarray(quantiles), axis=-1) < 0).any())


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    return _erf_cdf(np.asarray(z, np.float64)).astype(np.float64)


def _tail(x: np.ndarray, median: np.ndarray, outer: np.ndarray, level: float, beyond: float) -> np.ndarray:
    """P(T < x) in a normal tail centred on ``median`` through the knot (``outer``, ``level``);
    ``beyond`` (0 or 1) where the outer knot is the median itself (no spread described)."""
    z = _normal_dist_inv_cdf(level, 0.0, 1.0)
    if z == 0.0:
        return np.full(x.shape, beyond)
    sigma = np.maximum((outer - median) / z, MIN_SPREAD_C)
    return _normal_cdf((x - median) / sigma)


def cdf(quantiles: np.ndarray, levels, x) -> np.ndarray:
    """P(T < x) for each hour: ``quantiles`` (..., Q) °C ascending, ``x`` broadcastable to
    ``quantiles[..., 0]``; returns that shape. Linear between the knots, normal tails."""
    levels = check_levels(levels)
    q = np.asarray(quantiles, np.float64)
    x = np.broadcast_to(np.asarray(x, np.float64), q.shape[:-1])
    median = q[..., levels.index(MEDIAN)]
    out = np.empty(x.shape)
    below, above = x < q[..., 0], x >= q[..., -1]
    out[below] = _tail(x[below], median[below], q[..., 0][below], levels[0], 0.0)
    out[above] = _tail(x[above], median[above], q[..., -1][above], levels[-1], 1.0)
    for k in range(len(levels) - 1):  # linear between knots k and k + 1
        inside = (x >= q[..., k]) & (x < q[..., k + 1])
        width = np.maximum(q[..., k + 1] - q[..., k], 1e-12)
        out[inside] = levels[k] + (levels[k + 1] - levels[k]) * ((x - q[..., k]) / width)[inside]
    return out


def recalibrate(p, ab: tuple[float, float] | None = FROST_RECALIBRATION) -> np.ndarray:
    """``σ(a·logit(p) + b)`` elementwise; ``ab`` None: ``p`` unchanged."""
    p = np.asarray(p, np.float64)
    if ab is None:
        return p
    a, b = ab
    return 1.0 / (1.0 + np.exp(-(a * logit(p) + b)))


def logit(p) -> np.ndarray:
    """log(p / (1 − p)), ``p`` clipped LOGIT_EDGE inside (0, 1) so 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, np.float64), LOGIT_EDGE, 1.0 - LOGIT_EDGE)
    return np.log(q / (1.0 - q))


def frost_probabilities(quantiles: np.ndarray, levels, frost_c: float, combine: str = FROST_COMBINE,
                        ab: tuple[float, float] | None = FROST_RECALIBRATION) -> np.ndarray:
    """(n,) P(some hour of each forecast goes below ``frost_c``) for ``quantiles`` (n, H, Q);
    ``ab``: the recalibration (None: the combined probability as it is)."""
    if combine not in COMBINE_RULES:
        raise ValueError(f"unknown rule {combine!r}; choose from {COMBINE_RULES}")
    hourly = cdf(quantiles, levels, frost_c)  # (n, H)
    combined = hourly.max(axis=-1) if combine == "max" else 1.0 - np.prod(1.0 - hourly, axis=-1)
    return recalibrate(combined, ab)


def frost_probability(quantiles: np.ndarray, levels, frost_c: float, combine: str = FROST_COMBINE,
                      ab: tuple[float, float] | None = FROST_RECALIBRATION) -> float:
    """P(the next hours, ``quantiles`` (H, Q) °C, go below ``frost_c`` at least once)."""
    return float(frost_probabilities(np.asarray(quantiles)[None], levels, frost_c, combine, ab)[0])

