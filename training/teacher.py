"""The shipped bundle's own curve as a second target (a distilled band kind's teacher).

``teacher_curves`` runs the default bundle (edgecast/models/default.tflite, LiteRT) on
the given window starts of a protocol's layout and returns (n, 24) °C. The bundle lays
out its own windows (its feature list's channels); that layout must give the same rows
and the same window starts as the student's, which is asserted, so row i of the teacher
is the forecast for exactly the window the student is fitted on. Cached in /tmp by the
bundle's sha256, the protocol and the starts.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/edgecast_teacher")


def teacher_curves(layout, series, starts: np.ndarray, log=print) -> np.ndarray:
    """(len(starts), 24) °C: the default bundle's curve on ``layout``'s windows at ``starts``."""
    from edgecast.forecaster import load_forecaster
    forecaster = load_forecaster(None)
    starts = np.asarray(starts)
    key = hashlib.sha256(f"{forecaster.identity['sha256']}|{layout.protocol}|{len(layout.times)}|".encode()
                         + starts.astype(np.int64).tobytes()).hexdigest()[:16]
    path = CACHE / f"{key}.npy"
    if path.exists():
        return np.load(path)
    own, predict = forecaster.on_layout(layout.protocol, series)
    # the same windows: identical rows (times) and the same starts in every part
    assert np.array_equal(own.times, layout.times), "teacher and student layouts have different rows"
    for part in layout.parts:
        assert np.array_equal(own.starts(part), layout.starts(part)), f"the {part} part's starts differ"
    log(f"teacher: the default bundle on {len(starts)} windows …")
    out = np.concatenate([predict(starts[i:i + 4096]) for i in range(0, len(starts), 4096)]).astype(np.float32)
    assert out.shape == (len(starts), 24) and np.isfinite(out).all()
    CACHE.mkdir(exist_ok=True)
    np.save(path, out)
    return out
