"""TFLite interpreters behind one small interface.

LiteRT (``ai-edge-litert``) is preferred; ``tflite-runtime`` 2.14 serves older boards
(NumPy < 2). ``tensorflow`` (``tf.lite``) exists only so benchmarks can show what a box
would pay for full TensorFlow — the daemon never asks for it.
"""

from __future__ import annotations

import importlib

import numpy as np

from . import band

PREFERENCE = ("litert", "tflite-runtime")
_MODULES = {
    "litert": ("ai_edge_litert.interpreter", "ai-edge-litert"),
    "tflite-runtime": ("tflite_runtime.interpreter", "tflite-runtime"),
    # the module itself: importlib on "tensorflow.lite" gives a package without Interpreter
    "tensorflow": ("tensorflow.lite.python.interpreter", "tensorflow"),
}


class RuntimeUnavailable(Exception):
    pass


def _interpreter_class(runtime: str):
    if runtime not in _MODULES:
        raise RuntimeUnavailable(f"unknown runtime {runtime!r}; choose from {', '.join(_MODULES)} or auto")
    module, dist = _MODULES[runtime]
    extra = "device" if runtime == "litert" else "device-legacy"
    try:
        return importlib.import_module(module).Interpreter, _version(module, dist)
    except ImportError as exc:
        raise RuntimeUnavailable(f"{runtime} is not installed ({exc}); "
                                 f"pip install 'edgecast[{extra}]'") from None


def _version(module: str, dist: str) -> str:
    """The runtime package's own ``__version__``; the installed metadata only without one
    (importlib.metadata pulls zipfile, csv and email parsing into the daemon: ~0.4 MiB)."""
    version = getattr(importlib.import_module(module.split(".")[0]), "__version__", None)
    if version:
        return version
    from importlib import metadata
    return metadata.version(dist)


def resolve(runtime: str = "auto"):
    """(runtime name, Interpreter class, version) for ``runtime`` or the first one installed."""
    if runtime != "auto":
        cls, version = _interpreter_class(runtime)
        return runtime, cls, version
    reasons = []
    for name in PREFERENCE:
        try:
            cls, version = _interpreter_class(name)
            return name, cls, version
        except RuntimeUnavailable as exc:
            reasons.append(str(exc))
    raise RuntimeUnavailable("no TFLite runtime installed: " + "; ".join(reasons))


class Runner:
    """One model in one interpreter: normalised (n, 120, F) windows in, °C out.

    A bundle has one output (+24 h) or 24 (the curve +1 … +24 h); the last one is always
    +24 h, the headline forecast. A quantile bundle's output is (1, H, Q): for each hour
    the quantiles at ``quantiles`` (ascending levels, 0.5 among them); its point forecast
    is the median column, so every point method below serves both kinds alike."""

    def __init__(self, model_bytes: bytes, runtime: str = "auto", num_threads: int = 1,
                 quantiles: list[float] | None = None):
        self.runtime, cls, self.version = resolve(runtime)
        self._interpreter = cls(model_content=model_bytes, num_threads=num_threads)
        self._interpreter.allocate_tensors()
        (inp,), (out,) = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        self.input_shape = tuple(int(d) for d in inp["shape"])
        self.output_shape = tuple(int(d) for d in out["shape"])
        self._input, self._output = inp["index"], out["index"]
        self.quantiles = None if quantiles is None else band.check_levels(quantiles)
        if len(self.output_shape) == 3:
            if self.quantiles is None or self.output_shape[2] != len(self.quantiles):
                raise ValueError(f"output {self.output_shape} holds quantiles per hour; the bundle names "
                                 f"{'no' if self.quantiles is None else len(self.quantiles)} quantile levels")
            self._point = self.quantiles.index(band.MEDIAN)
        elif self.quantiles is not None:
            raise ValueError(f"output {self.output_shape} has no quantile axis, the bundle names "
                             f"levels {self.quantiles}")
        self.outputs = self.output_shape[1] if len(self.output_shape) == 3 else int(np.prod(self.output_shape))

    def _invoke(self, window: np.ndarray) -> np.ndarray:
        # The fused UNIDIRECTIONAL_SEQUENCE_LSTM op keeps its hidden and cell state in
        # variable tensors across invokes; without a reset every forecast would start from
        # the previous window's final state (measured: up to 5.7 °C off on a 5-step LSTM).
        self._interpreter.reset_all_variables()
        self._interpreter.set_tensor(self._input, window.reshape(self.input_shape).astype(np.float32, copy=False))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).astype(np.float64)

    def predict_quantiles_one(self, window: np.ndarray) -> np.ndarray:
        """(H, Q) °C for one window of a quantile bundle."""
        if self.quantiles is None:
            raise ValueError("this bundle forecasts points, not quantiles")
        return self._invoke(window).reshape(self.outputs, len(self.quantiles))

    def predict_curve_one(self, window: np.ndarray) -> np.ndarray:
        """(outputs,) °C for one window: the point forecast (a quantile bundle's median)."""
        if self.quantiles is not None:
            return self.predict_quantiles_one(window)[:, self._point]
        return self._invoke(window).reshape(-1)

    def predict_one(self, window: np.ndarray) -> float:
        """The +24 h forecast for one window."""
        return float(self.predict_curve_one(window)[-1])

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(n,) +24 h forecasts."""
        return np.array([self.predict_one(w) for w in windows])

    def predict_curves(self, windows: np.ndarray) -> np.ndarray:
        """(n, outputs) forecasts, the last column +24 h."""
        return np.array([self.predict_curve_one(w) for w in windows]).reshape(len(windows), self.outputs)

    def predict_quantile_curves(self, windows: np.ndarray) -> np.ndarray:
        """(n, H, Q) quantiles of a quantile bundle."""
        return np.array([self.predict_quantiles_one(w) for w in windows]).reshape(
            len(windows), self.outputs, len(self.quantiles))

    def predict_raw(self, windows: np.ndarray) -> np.ndarray:
        """(n, every output value) as the graph gives them: the export's parity check."""
        return np.array([self._invoke(w).reshape(-1) for w in windows]).reshape(len(windows), -1)
