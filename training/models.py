"""Step 4 of the story: the model table (Deep Learning with Python ch. 10 / keras-io) and
the compact residual models we ship.

Every model takes a (batch, 120, F) window normalised with the schema's statistics and
outputs (batch, 1) temperature in °C, so serving is just normalise -> invoke.

``build(kind, schema, unroll=..., keras_module=...)`` must rebuild the same
architecture under Keras 3 or ``tf_keras`` (Keras 2 API, for the fused TFLite LSTM
op) and with ``unroll=True``; the export copies weights with get/set_weights. Hence
only plain layers that exist in both APIs — no Lambda, no custom layers — and every
recurrent layer takes ``unroll``. The de-normalisation is a Dense layer with fixed,
non-trainable weights (set after construction, so nothing lives in an initializer).

Importing this module does not import TensorFlow (the CLI lists the kinds from it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgecast.schema import CHANNEL_NAMES, TARGET, FeatureSchema

# ======================================================================================
# COMPACT RECIPE — the knobs of the models we ship (compact_lstm / compact_gru).
# The research on beating naive (training/experiments/) refines THIS block only.
# Residual: output °C = last input step's temperature (de-normalised) + learned correction.
COMPACT_FEATURES: list[str] = [
    "p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)",
    "VPact (mbar)", "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)",
    "wind_x", "wind_y", "max_wind_x", "max_wind_y",  # wind as a vector, not wv/max.wv/wd
    "hour_sin", "hour_cos",
]
COMPACT_UNITS = 16
COMPACT_DROPOUT = 0.0  # Dropout before the correction head (0 = none)
COMPACT_RECURRENT_DROPOUT = 0.0
COMPACT_LOSS = "huber"  # Huber(delta=1 °C): robust to the odd large miss
COMPACT_OPTIMIZER = "adam"
COMPACT_LR = 1e-3
COMPACT_BATCH = 256
COMPACT_EPOCHS = 20
COMPACT_PATIENCE = 3
# ======================================================================================

RAW14: list[str] = list(CHANNEL_NAMES)


@dataclass(frozen=True)
class ModelSpec:
    """A model kind: what it reads, how it is built and how it is fitted."""

    description: str
    features: list[str]
    body: Callable  # body(keras, x, unroll) -> tensor; see _assemble
    residual: bool = False  # True: output = last temperature + body (correction in °C)
    loss: str = "mse"  # "mse" | "mae" | "huber"
    optimizer: str = "rmsprop"  # "rmsprop" | "adam"
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 10
    patience: int = 3
    extra: dict = field(default_factory=dict)  # further recorded hyper-parameters

    def hyperparameters(self) -> dict:
        return {"loss": self.loss, "optimizer": self.optimizer, "lr": self.lr,
                "batch_size": self.batch_size, "epochs": self.epochs, "patience": self.patience,
                "residual": self.residual, "description": self.description, **self.extra}


# --- bodies: (batch, 120, F) normalised -> (batch, 1) -----------------------------------
# Classical bodies predict the normalised temperature; _assemble de-normalises it with a
# fixed Dense, so they train and output in °C like the book (whose targets are °C).

def _dense(k, x, unroll):
    x = k.layers.Flatten()(x)
    x = k.layers.Dense(16, activation="relu")(x)
    return k.layers.Dense(1)(x)


def _conv1d(k, x, unroll):
    x = k.layers.Conv1D(8, 24, activation="relu")(x)
    x = k.layers.MaxPooling1D(2)(x)
    x = k.layers.Conv1D(8, 12, activation="relu")(x)
    x = k.layers.MaxPooling1D(2)(x)
    x = k.layers.Conv1D(8, 6, activation="relu")(x)
    x = k.layers.GlobalAveragePooling1D()(x)
    return k.layers.Dense(1)(x)


def _simple_rnn(k, x, unroll):
    return k.layers.Dense(1)(k.layers.SimpleRNN(16, unroll=unroll)(x))


def _lstm16(k, x, unroll):
    return k.layers.Dense(1)(k.layers.LSTM(16, unroll=unroll)(x))


def _lstm32_dropout(k, x, unroll):
    x = k.layers.LSTM(32, recurrent_dropout=0.25, unroll=unroll)(x)
    x = k.layers.Dropout(0.5)(x)
    return k.layers.Dense(1)(x)


def _gru_stacked(k, x, unroll):
    x = k.layers.GRU(32, recurrent_dropout=0.5, return_sequences=True, unroll=unroll)(x)
    x = k.layers.GRU(32, recurrent_dropout=0.5, unroll=unroll)(x)
    x = k.layers.Dropout(0.5)(x)
    return k.layers.Dense(1)(x)


def _gru_reversed(k, x, unroll):
    # go_backwards reads the window newest-first: the same as feeding time-reversed input.
    return k.layers.Dense(1)(k.layers.GRU(32, go_backwards=True, unroll=unroll)(x))


def _bilstm(k, x, unroll):
    return k.layers.Dense(1)(k.layers.Bidirectional(k.layers.LSTM(16, unroll=unroll))(x))


def _compact(cell: str):
    def body(k, x, unroll):
        rnn = getattr(k.layers, cell)
        x = rnn(COMPACT_UNITS, recurrent_dropout=COMPACT_RECURRENT_DROPOUT, unroll=unroll)(x)
        if COMPACT_DROPOUT:
            x = k.layers.Dropout(COMPACT_DROPOUT)(x)
        return k.layers.Dense(1, name="correction")(x)  # °C added to the last temperature
    return body


def _book(description, body, epochs=10, patience=3, **kw) -> ModelSpec:
    return ModelSpec(description, RAW14, body, epochs=epochs, patience=patience, **kw)


MODELS: dict[str, ModelSpec] = {
    "dense": _book("Flatten -> Dense(16, relu) -> Dense(1)", _dense),
    "conv1d": _book("Conv1D(8,24)-Pool-Conv1D(8,12)-Pool-Conv1D(8,6)-GAP-Dense(1)", _conv1d),
    "simple_rnn": _book("SimpleRNN(16) -> Dense(1)", _simple_rnn),
    "lstm16": _book("LSTM(16) -> Dense(1)", _lstm16),
    "lstm32_dropout": _book("LSTM(32, recurrent_dropout=0.25) -> Dropout(0.5) -> Dense(1)",
                            _lstm32_dropout, epochs=50, patience=5),
    "gru_stacked": _book("GRU(32, rec. dropout 0.5) x2 -> Dropout(0.5) -> Dense(1)",
                         _gru_stacked, epochs=50, patience=5),
    "gru_reversed": _book("GRU(32) on time-reversed input -> Dense(1)", _gru_reversed),
    "bilstm": _book("Bidirectional(LSTM(16)) -> Dense(1)", _bilstm),
}
for _kind, _cell in (("compact_lstm", "LSTM"), ("compact_gru", "GRU")):
    MODELS[_kind] = ModelSpec(
        f"residual {_cell}({COMPACT_UNITS}): last temperature + learned correction",
        COMPACT_FEATURES, _compact(_cell), residual=True, loss=COMPACT_LOSS,
        optimizer=COMPACT_OPTIMIZER, lr=COMPACT_LR, batch_size=COMPACT_BATCH,
        epochs=COMPACT_EPOCHS, patience=COMPACT_PATIENCE,
        extra={"units": COMPACT_UNITS, "dropout": COMPACT_DROPOUT,
               "recurrent_dropout": COMPACT_RECURRENT_DROPOUT})


def get(kind: str) -> ModelSpec:
    try:
        return MODELS[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; known: {', '.join(MODELS)} (and arima)") from None


def _target_stats(schema: FeatureSchema) -> tuple[int, float, float]:
    if TARGET not in schema.features:
        raise ValueError(f"the feature list must contain {TARGET!r}")
    if not schema.mean:
        raise ValueError("the schema has no fitted statistics (fit them on the train part first)")
    j = schema.features.index(TARGET)
    return j, float(schema.mean[j]), float(schema.std[j])


def build(kind: str, schema: FeatureSchema, *, unroll: bool = False, keras_module=None):
    """The model for ``kind`` reading ``schema.features``; output (batch, 1) in °C.

    ``keras_module``: ``keras`` (Keras 3, default) or ``tf_keras`` (Keras 2 API).
    """
    if keras_module is None:
        import keras as keras_module
    k = keras_module
    spec = get(kind)
    if list(schema.features) != list(spec.features):
        raise ValueError(f"{kind} reads {spec.features}, the schema has {schema.features}")
    j, mean_t, std_t = _target_stats(schema)
    n = schema.n_features

    window = k.Input(shape=(schema.window_steps, n), name="window")
    out = spec.body(k, window, unroll)
    fixed = []  # (layer, kernel, bias): constants set after construction
    if spec.residual:
        # last step (batch, F) -> its temperature in °C; the body's output is a °C correction
        last = k.layers.Flatten(name="last_step")(
            k.layers.Cropping1D((schema.window_steps - 1, 0), name="crop_last")(window))
        denorm = k.layers.Dense(1, trainable=False, name="last_temperature")
        kernel = np.zeros((n, 1), np.float32)
        kernel[j, 0] = std_t
        fixed.append((denorm, kernel, np.array([mean_t], np.float32)))
        out = k.layers.Add(name="celsius")([denorm(last), out])
    else:
        denorm = k.layers.Dense(1, trainable=False, name="celsius")
        fixed.append((denorm, np.array([[std_t]], np.float32), np.array([mean_t], np.float32)))
        out = denorm(out)
    model = k.Model(window, out, name=kind)
    for layer, kernel, bias in fixed:
        layer.set_weights([kernel, bias])
    return model
