"""Step 6 of the story: a trained Keras model -> a self-describing TFLite bundle.

Graph forms of a recurrent model (the seed material's "unroll for speed at the cost of
memory", made a choice):

- ``loop``     Keras 3 rolled RNN -> a TFLite ``WHILE`` loop: smallest file, control flow;
- ``unrolled`` the same weights rebuilt with ``unroll=True``: 120 straight-line copies of
               the cell, no control flow, a larger file and arena;
- ``fused``    the same weights in ``tf_keras`` (Keras 2 API), whose LSTM converts to the
               single builtin op ``UNIDIRECTIONAL_SEQUENCE_LSTM`` (LSTM only: TFLite has
               no fused GRU op).

Non-recurrent models have one form, ``plain``. The export refuses Flex/Select-TF ops,
checks TFLite against Keras on real test windows, measures the bundle's own MAE through
the device runtime, and writes the bundle atomically.

Outputs: a +24 h model gives one output; a curve model (``horizons`` 24) gives
24, +1 … +24 h. ``curve_dir`` combines a +24 h model with a curve model into one graph:
the curve, with +24 h from the dedicated model, whose headline is better than the curve's
own +24 h output (BENCHMARKS.md). Splicing that value in alone left a seam (on 2022 a mean
step of 0.98 °C from +23 to +24 h, against ~0.55 °C between other hours), so the
correction (dedicated − curve at +24 h) is phased in over the last ``BLEND_HOURS`` hours:
on both validation parts that was the best of the blends tried (training/scripts/choose_blend.py)
in mean MAE over the 24 hours, and the seam is gone.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecast import __version__, atomic, protocol
from edgecast.bundle import CHECKSUM_PLACEHOLDER, FORMAT, METADATA_NAME, read_bundle, seal
from edgecast.data import load
from edgecast.features import layout_columns, required_channels
from edgecast.runtime import Runner
from edgecast.schema import CURVE_HORIZONS, HORIZON_HOURS, FeatureSchema

GRAPH_FORMS = ("loop", "unrolled", "fused")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
# Largest |TFLite − Keras| allowed on the parity windows, in °C. float32 graph rewrites
# only reorder float operations (~1e-5 °C); float16 weights keep ~3 significant digits;
# dynamic-range and int8 quantise weights (and activations) to 8 bits, which moves a
# forecast by a few tenths at most on a ~2–3 °C MAE model — larger means a broken graph.
TOLERANCE_C = {"none": 0.01, "float16": 0.1, "dynamic": 0.5, "int8": 1.0}
PARITY_WINDOWS = 1000
REPRESENTATIVE_WINDOWS = 300
CURVE = list(CURVE_HORIZONS)  # a curve bundle's horizons (a list, as JSON metadata holds them)
BLEND_HOURS = 6  # the dedicated +24 h model's correction phases in over +19 … +24 h


def blend_weights() -> np.ndarray:
    """(24,) share of the +24 h correction each hour of a combined curve takes: 0 up to
    +18 h, then 1/6 … 1 (the +24 h value is the dedicated model's own)."""
    return np.clip((np.array(CURVE, np.float32) - (HORIZON_HOURS - BLEND_HOURS)) / BLEND_HOURS, 0, 1)


def blend(curve: np.ndarray, headline: np.ndarray) -> np.ndarray:
    """The combined curve: ``curve`` (n, 24) moved towards ``headline`` (n, 1) at the end."""
    return curve + blend_weights() * (headline - curve[:, -1:])


class ExportError(Exception):
    pass


@dataclass
class ExportReport:
    path: Path
    size_bytes: int
    ops: list[str]
    parity_max_c: float
    parity_mean_c: float
    parity_windows: int
    val_mae: float
    test_mae: float | None  # None for a protocol without a test part (final)


def _recurrent_cells(model) -> set[str]:
    names = {type(layer).__name__ for layer in model.layers}
    names |= {type(layer.layer).__name__ for layer in model.layers if hasattr(layer, "forward_layer")}
    return names & {"LSTM", "GRU", "SimpleRNN"}


def _keras_module(graph_form: str):
    """tf_keras (Keras 2) for the fused form, whose LSTM converts to the fused op; else Keras 3."""
    if graph_form == "fused":
        import tf_keras
        return tf_keras
    import keras
    return keras


def _variant(kind: str, schema: FeatureSchema, weights, graph_form: str, cells: set[str]):
    """Rebuild the architecture in the requested form and load the trained weights."""
    from training import models
    if graph_form == "fused" and cells != {"LSTM"}:
        raise ExportError(f"{kind}: the fused form exists only for LSTM layers (TFLite has no fused "
                          f"{'/'.join(sorted(cells - {'LSTM'}))} op); export without --fused (loop form) "
                          "or with --unroll")
    keras_module = _keras_module(graph_form)
    model = models.build(kind, schema, unroll=(graph_form == "unrolled"), keras_module=keras_module)
    model.set_weights(weights)
    # A fixed (1, 120, F) input: the box forecasts one window at a time, and a static
    # shape lets the converter plan every tensor.
    window = keras_module.Input((schema.window_steps, schema.n_features), batch_size=1, name="window")
    return keras_module.Model(window, model(window), name=f"{kind}_{graph_form}")


def _combined(headline, curve, graph_form: str):
    """One graph, one input: ``blend`` of the curve and the +24 h model's output (a few
    elementwise ops); both are ``_variant``s of the same form, so one Keras API."""
    keras_module = _keras_module(graph_form)
    window = keras_module.Input(headline.input_shape[1:], batch_size=1, name="window")
    hours = blend(curve(window), headline(window))
    return keras_module.Model(window, hours, name=f"{headline.name}_with_{curve.name}")


def _horizons(meta: dict) -> int:
    return meta.get("hyperparameters", {}).get("horizons", 1)


def _check_pair(model_dir: Path, meta: dict, curve_dir: Path, curve_meta: dict) -> None:
    """Refuse a pair that cannot share one input window, or whose figures would mix data."""
    if _horizons(meta) > 1:
        raise ExportError(f"{model_dir} ({meta['kind']}) is itself a curve model; --curve combines a +24 h model "
                          "(MODEL_DIR, e.g. compact_lstm) with a curve model (e.g. compact_lstm_curve). To export "
                          "the curve model alone, drop --curve")
    if _horizons(curve_meta) != HORIZON_HOURS:
        raise ExportError(f"--curve {curve_dir} holds {curve_meta['kind']}, which is not a curve model (it forecasts "
                          "+24 h only); --curve wants one with 24 outputs +1 … +24 h, e.g. compact_lstm_curve")
    # One layout measures both parts: the same protocol on the same rows of the same files.
    data = [{"protocol": m["data"].get("protocol", "seed"), "limit_rows": m["data"].get("limit_rows"),
             "sources": [Path(p).name for p in m["data"]["sources"]]} for m in (meta, curve_meta)]
    differ = [f"{key} {data[0][key]} vs {data[1][key]}" for key in data[0] if data[0][key] != data[1][key]]
    if differ:
        raise ExportError(f"{model_dir} and --curve {curve_dir} were trained on different data ({'; '.join(differ)}); "
                          "train both with the same --data, --protocol and --limit-rows")
    # One normalised window feeds both: features, geometry and statistics must be identical.
    a, b = meta["schema"], curve_meta["schema"]
    differ = [key for key in sorted(a.keys() | b.keys()) if a.get(key) != b.get(key)]
    if differ:
        raise ExportError(f"{model_dir} and --curve {curve_dir} read different inputs: their schemas differ in "
                          f"{', '.join(differ)} (mean/std are the normalisation statistics); one normalised window "
                          "feeds both, so they must read the same features, window and statistics")


def _convert(model, quantize: str, representative: np.ndarray) -> bytes:
    import tensorflow as tf
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops, ever
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "int8":
        converter.representative_dataset = lambda: ([w[None]] for w in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises ConverterError and friends
        text = str(exc)
        if "Flex" in text or "Select TensorFlow op" in text or "not supported by" in text:
            raise ExportError("the converted graph needs TensorFlow (Flex/Select-TF) ops, which no box "
                              f"runtime has; change the architecture. Converter said: {text[:400]}") from None
        raise ExportError(f"conversion failed: {text[:600]}") from None


def _strip_names(model_bytes: bytes) -> bytes:
    """Drop tensor names and signatures: debugging strings, ~5.6 KiB of the 3-member compact
    graph. The runtime addresses the one input and output by index (edgecast.runtime)."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _op_names(model_bytes: bytes) -> list[str]:
    """The graph's own op list (the interpreter would show XNNPACK's DELEGATE instead)."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    builtin = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    ops = set()
    for code in model.operatorCodes:
        if code.customCode:
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else str(code.customCode)
            raise ExportError(f"the converted graph needs the non-builtin op {custom!r}; no box runtime has it")
        ops.add(builtin[max(code.builtinCode, code.deprecatedBuiltinCode)])
    return sorted(ops)


def _embed(model_bytes: bytes, meta: dict) -> bytes:
    """Add the edgecast JSON as a named TFLite metadata entry, then fill in its checksum."""
    from tensorflow.lite.python import schema_py_generated as fb
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(model_bytes))
    buffer = fb.BufferT()
    # One line, no indentation: 6.9 instead of 9.0 KB for the default bundle's metadata, bytes
    # a box stores and loads; ": " keeps the key text the checksum is found by (edgecast.bundle).
    text = json.dumps({**meta, "sha256": CHECKSUM_PLACEHOLDER}, separators=(",", ": "))
    buffer.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(buffer)
    entry = fb.MetadataT()
    entry.name = METADATA_NAME
    entry.buffer = len(model.buffers) - 1
    model.metadata = (model.metadata or []) + [entry]
    return seal(bytes(flatbuffer_utils.convert_object_to_bytearray(model)))


def _keras_outputs(model, windows: np.ndarray) -> np.ndarray:
    """(n, outputs) °C of a trained Keras model."""
    return np.asarray(model.predict(windows, batch_size=256, verbose=0)).reshape(len(windows), -1)


def _evaluation_data(meta: dict, data_paths, protocol_name: str, log):
    """(file paths, series) the parity check and MAE run on: the training data by default.
    The stations protocol reads a data folder (edgecast.places), the folder of Jena's files."""
    if protocol_name in protocol.PLACE_PROTOCOLS:
        from edgecast.places import load_places
        folder = Path(data_paths[0]) if data_paths else Path(meta["data"]["sources"][0]).parent
        log(f"loading the places of {folder}")
        places = load_places(folder, log=lambda *_: None)
        return places.sources, places
    paths = list(data_paths or meta["data"]["sources"])
    log(f"loading {', '.join(map(str, paths))}")
    series = load(paths)
    if not data_paths and meta["data"].get("limit_rows"):
        series = series.slice(0, meta["data"]["limit_rows"])  # the rows the model was trained on
    return paths, series


@dataclass
class ExportPlan:
    """What one export will do, settled and checked before anything is converted: the trained
    model(s), the graph form, the horizons the bundle answers and the data it is measured on."""
    model_dir: Path
    kind: str
    meta: dict
    keras_model: object
    schema: FeatureSchema
    cells: set[str]
    graph_form: str
    quantize: str
    horizons: list[int]
    protocol_name: str
    paths: list
    layout: object  # edgecast.protocol layout of the evaluation data
    columns: object
    curve_dir: Path | None = None
    curve_model: object = None
    curve_meta: dict | None = None
    curve_cells: set[str] = frozenset()

    @property
    def parts(self) -> tuple:
        return self.layout.evaluated

    def reference(self, windows: np.ndarray) -> np.ndarray:
        """What the graph must compute: the trained Keras models' outputs, combined as in _combined."""
        outputs = _keras_outputs(self.keras_model, windows)
        if self.curve_model is None:
            return outputs
        return blend(_keras_outputs(self.curve_model, windows), outputs)

    def parameters(self) -> int:
        curve = int(self.curve_model.count_params()) if self.curve_model is not None else 0
        return int(self.keras_model.count_params()) + curve

    @property
    def quantiles(self) -> list[float] | None:
        """The levels of a band model's (1, H, Q) output, else None (a point bundle)."""
        return self.meta.get("hyperparameters", {}).get("quantiles")


@dataclass
class Parity:
    """|TFLite − Keras| over the parity windows, every output."""
    windows: int
    max_abs_c: float
    mean_abs_c: float


def _graph_form(requested: str, cells: set[str], quantize: str) -> str:
    if not cells:
        return "plain"
    if requested not in GRAPH_FORMS:
        raise ExportError(f"unknown graph form {requested!r}; choose from {GRAPH_FORMS}")
    if requested == "loop" and quantize == "int8":
        # TensorFlow 2.21's converter segfaults while calibrating a WHILE loop (measured);
        # refuse rather than crash.
        raise ExportError("int8 needs a graph without a WHILE loop: add --unroll, or --fused for an LSTM")
    return requested


def plan(model_dir: Path, *, graph_form: str = "loop", quantize: str = "none", data_paths: list | None = None,
         curve_dir: Path | None = None, log=print) -> ExportPlan:
    """Load the model(s), refuse what cannot be exported, and lay out the evaluation data."""
    from training.train import load_model_dir

    if quantize not in QUANTIZATIONS:
        raise ExportError(f"unknown quantisation {quantize!r}; choose from {QUANTIZATIONS}")
    keras_model, meta = load_model_dir(model_dir)
    kind = meta["kind"]
    if keras_model is None:  # not a Keras network (training.kinds: not exportable)
        raise ExportError(f"{kind} is not a neural network and cannot be exported to TFLite; only the Keras "
                          "kinds (dense … compact_*) can: train one of those")
    curve_model = curve_meta = None
    if curve_dir is not None:
        curve_model, curve_meta = load_model_dir(curve_dir)
        _check_pair(model_dir, meta, curve_dir, curve_meta)
    horizons = CURVE if curve_dir is not None or _horizons(meta) == HORIZON_HOURS else [HORIZON_HOURS]
    schema = FeatureSchema.from_dict(meta["schema"])
    cells = _recurrent_cells(keras_model)
    curve_cells = _recurrent_cells(curve_model) if curve_model is not None else set()
    graph_form = _graph_form(graph_form, cells | curve_cells, quantize)
    protocol_name = meta["data"].get("protocol", "seed")
    paths, series = _evaluation_data(meta, data_paths, protocol_name, log)
    layout = protocol.layout(protocol_name, series, required_channels(schema.features))
    return ExportPlan(Path(model_dir), kind, meta, keras_model, schema, cells, graph_form, quantize, horizons,
                      protocol_name, paths, layout, layout_columns(schema, layout),
                      curve_dir, curve_model, curve_meta, curve_cells)


def convert(p: ExportPlan, log=print) -> bytes:
    """The plan's graph as TFLite bytes (builtin ops only, names stripped)."""
    rng = np.random.default_rng(0)
    train_starts = p.layout.starts("train")
    representative = p.layout.windows(p.columns, np.sort(rng.choice(train_starts, REPRESENTATIVE_WINDOWS,
                                                                     replace=False)))
    if p.curve_model is None:
        log(f"converting {p.kind} as {p.graph_form}, quantisation {p.quantize}")
        variant = (p.keras_model if p.graph_form == "plain"
                   else _variant(p.kind, p.schema, p.keras_model.get_weights(), p.graph_form, p.cells))
    else:
        log(f"converting {p.kind} (+24 h) and {p.curve_meta['kind']} (the curve) into one graph as {p.graph_form}, "
            f"quantisation {p.quantize}")
        variant = _combined(_variant(p.kind, p.schema, p.keras_model.get_weights(), p.graph_form, p.cells),
                            _variant(p.curve_meta["kind"], p.schema, p.curve_model.get_weights(), p.graph_form,
                                     p.curve_cells),
                            p.graph_form)
    return _strip_names(_convert(variant, p.quantize, representative))


def verify(p: ExportPlan, runner: Runner, log=print) -> Parity:
    """The converted graph against the trained Keras model(s) on real windows they did not fit
    (the last part; a final model has only its train part), every output value (a band
    bundle's every quantile too); refuses a graph with the wrong number of outputs or
    outside the quantisation's tolerance."""
    if runner.outputs != len(p.horizons):
        raise ExportError(f"the converted graph has {runner.outputs} outputs, expected {len(p.horizons)}")
    test_starts = p.layout.starts((p.parts or ("train",))[-1])
    parity_starts = test_starts[np.linspace(0, len(test_starts) - 1, PARITY_WINDOWS).astype(int)]
    parity_windows = p.layout.windows(p.columns, parity_starts)
    diff = np.abs(runner.predict_raw(parity_windows) - p.reference(parity_windows))
    log(f"parity on {len(diff)} test windows × {diff.shape[1]} output values: "
        f"max |TFLite − Keras| {diff.max():.5f} °C, mean {diff.mean():.5f} °C")
    if not diff.max() <= TOLERANCE_C[p.quantize]:
        raise ExportError(f"TFLite differs from Keras by up to {diff.max():.4f} °C, over the {p.quantize} "
                          f"tolerance of {TOLERANCE_C[p.quantize]} °C; the bundle was not written")
    return Parity(int(len(diff)), float(diff.max()), float(diff.mean()))


def measure(p: ExportPlan, runner: Runner, log=print) -> tuple[dict, dict]:
    """(metrics, MAE by horizon) of the converted graph through the device runtime."""
    log(f"measuring the bundle's own MAE through the device runtime ({p.protocol_name} protocol)")
    layout, columns = p.layout, p.columns
    if not p.parts:
        return {}, {}
    measured = protocol.evaluate(layout, lambda s: runner.predict(layout.windows(columns, s)))
    if len(p.horizons) == 1:
        return measured, {}
    rows = protocol.evaluate_horizons(
        layout, {"model": lambda s: runner.predict_curves(layout.windows(columns, s))}, p.parts)
    # columns, one value per horizon of meta["horizons"]: ~1 KiB per part instead of ~5
    by_horizon = {part: {name: [r[name] if name == "windows" else round(r[name], 3) for r in part_rows]
                         for name in part_rows[0] if name != "h"}
                  for part, part_rows in rows.items()}
    for part, figures in by_horizon.items():
        log(f"{part} MAE by horizon +1 … +24 h: {' '.join(f'{v:.2f}' for v in figures['model'])}")
    return measured, by_horizon


def _output_text(p: ExportPlan) -> str:
    target = p.schema.target
    if p.quantiles:
        return f"{target} at +1 … +24 h, each hour's quantiles at levels {'/'.join(f'{q:g}' for q in p.quantiles)}"
    if p.curve_meta is None:
        return f"{target} at +{p.horizons[0]} h" if len(p.horizons) == 1 else f"{target} at +1 … +24 h"
    return (f"{target} at +1 … +24 h: the curve model {p.curve_meta['kind']} ({Path(p.curve_dir).name}), "
            f"moved over the last {BLEND_HOURS} h to +24 h from {p.kind} ({p.model_dir.name})")


def describe(p: ExportPlan, runner: Runner, ops: list[str], parity: Parity, measured: dict,
             by_horizon: dict) -> dict:
    """The bundle's metadata: what it reads and answers, how it was made and what it measured."""
    meta = p.meta
    curve = ({"curve": {"kind": p.curve_meta["kind"], "parameters": int(p.curve_model.count_params()),
                        "blend_hours": BLEND_HOURS}} if p.curve_meta else {})
    return {
        "format": FORMAT,
        "kind": p.kind,
        "graph_form": p.graph_form,
        "quantization": p.quantize,
        "schema": p.schema.to_dict(),
        "horizons": p.horizons,
        **({"quantiles": p.quantiles} if p.quantiles else {}),
        "output": f"{_output_text(p)}, °C",
        **curve,
        "training": {"sources": [Path(s).name for s in meta["data"]["sources"]],
                     "first": meta["data"]["train_first"], "train_last": meta["data"]["train_last"],
                     "rows": meta["data"]["rows"], "protocol": p.protocol_name},
        "evaluated_on": {"sources": [Path(s).name for s in p.paths], "first": str(p.layout.times.min()),
                         "last": str(p.layout.times.max())},
        "metrics": {**{k: v for k, v in measured.items() if not k.endswith(("by_month", "by_quarter"))},
                    "protocol": p.protocol_name, "runtime": f"{runner.runtime} {runner.version}"},
        **({"by_horizon": by_horizon} if by_horizon else {}),
        "parity": {"windows": parity.windows, "max_abs_c": parity.max_abs_c, "mean_abs_c": parity.mean_abs_c,
                   "tolerance_c": TOLERANCE_C[p.quantize]},
        "parameters": p.parameters(),
        "ops": ops,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "edgecast_version": __version__,
    }


def export(model_dir: Path, out: Path, *, graph_form: str = "loop", quantize: str = "none",
           data_paths: list | None = None, curve_dir: Path | None = None, log=print) -> ExportReport:
    """plan → convert → verify (parity, then the bundle's own MAE) → describe → write atomically."""
    p = plan(model_dir, graph_form=graph_form, quantize=quantize, data_paths=data_paths, curve_dir=curve_dir,
             log=log)
    model_bytes = convert(p, log)
    ops = _op_names(model_bytes)
    runner = Runner(model_bytes, quantiles=p.quantiles)
    parity = verify(p, runner, log)
    measured, by_horizon = measure(p, runner, log)
    data = _embed(model_bytes, describe(p, runner, ops, parity, measured, by_horizon))
    atomic.write(out, data)
    read_bundle(out)  # what we wrote must verify
    figures = "  ".join(f"{part} MAE {measured[f'{part}_mae']:.3f} (naive {measured[f'naive_{part}_mae']:.3f})"
                        for part in p.parts) or "no held-out part (final protocol)"
    log(f"wrote {out} ({len(data)} bytes): {figures}")
    return ExportReport(out, len(data), ops, parity.max_abs_c, parity.mean_abs_c, parity.windows,
                        measured.get("val_mae"), measured.get("test_mae"))
