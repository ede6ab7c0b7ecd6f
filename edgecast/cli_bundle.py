"""``edgecast export`` and ``edgecast inspect``: making and examining model bundles."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .bundle import BundleError
from .cli_options import data_option, training_unavailable


@click.command()
@click.argument("model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The bundle to write (e.g. compact_gru.tflite).")
@click.option("--unroll/--no-unroll", default=False, show_default=True,
              help="Unrolled: one straight-line copy of the cell per time step (5 for the compact "
                   "models' daily RNN, 120 for the book's) — no control flow, a bigger file. Rolled: a WHILE loop "
                   "(or the fused LSTM op with --fused).")
@click.option("--fused", is_flag=True, help="LSTM only: rebuild in tf_keras so the LSTM becomes the single "
                                           "builtin op UNIDIRECTIONAL_SEQUENCE_LSTM (implies --no-unroll).")
@click.option("--quantize", type=click.Choice(["none", "float16", "dynamic", "int8"]), default="none",
              show_default=True, help="Weight/activation quantisation; int8 calibrates on real training windows.")
@click.option("--curve", "curve_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              metavar="CURVE_DIR",
              help="A curve model (compact_lstm_curve) trained on the same data as MODEL_DIR: one bundle with "
                   "24 outputs: the curve, ending at MODEL_DIR's +24 h (a +24 h model).")
@data_option(required=False, place=False,  # training/export.py loads them as they were trained on
             help="Data for the parity check and MAE (default: the files the model was trained on).")
def export(model_dir, out, unroll, fused, quantize, curve_dir, data_paths):
    """Convert a model trained by `edgecast train` into a self-describing TFLite bundle.

    \b
    The bundle is one .tflite file: the model plus its feature schema, statistics, window,
    horizons, graph form, quantisation, training data range, measured MAE and a checksum.
    Before writing, the TFLite output is checked against Keras on 1,000 real test windows,
    and the bundle's MAE is measured through the device runtime.

    \b
    Outputs: a +24 h model (compact_lstm …) gives a +24 h bundle; a curve model
    (compact_lstm_curve) gives the hourly curve +1 … +24 h, MAE per horizon recorded.
    --curve CURVE_DIR combines the two into one graph on one input window: the curve
    model's hours, with MODEL_DIR's +24 h at the end, its difference from the curve's own
    +24 h phased in over +19 … +24 h (no seam). Why: the dedicated +24 h model forecasts
    +24 h better than the curve's last output (years test 2.269 vs 2.384 °C MAE), so the
    headline existing subscribers read stays the same while the daemon gains the curve.
    Both must be trained on the same data and protocol (identical schema and statistics):
      edgecast export runs/final_compact_lstm --curve runs/final_compact_lstm_curve \\
          --fused -o edgecast/models/default.tflite      (how the default bundle is made)

    \b
    Graph forms of a recurrent model (compact_lstm, measured in BENCHMARKS.md):
      --no-unroll            WHILE loops                       56 KiB, 0.119 ms
      --unroll               straight-line, no control flow   165 KiB, 0.050 ms
      --fused (LSTM only)    UNIDIRECTIONAL_SEQUENCE_LSTM op   38 KiB, 0.057 ms (the default bundle's form)
    The compact models loop over 5 day-steps and 24 hours; for the book's 120-step
    models unrolling costs far more file size for little speed (BENCHMARKS.md).
    """
    if unroll and fused:
        raise click.UsageError("--fused and --unroll exclude each other")
    try:
        from training.export import ExportError, export as run_export
    except ImportError as exc:
        raise training_unavailable(exc) from None
    form = "fused" if fused else "unrolled" if unroll else "loop"
    try:
        run_export(model_dir, out, graph_form=form, quantize=quantize, data_paths=list(data_paths) or None,
                   curve_dir=curve_dir, log=lambda msg: click.echo(msg, err=True))
    except (ExportError, BundleError, FileNotFoundError, KeyError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--runtime", type=click.Choice(["auto", "litert", "tflite-runtime"]), default="auto", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def inspect(bundle, runtime, as_json):
    """Show a bundle's metadata, size, ops, memory and forecast latency on this box; or,
    given a station's state file, the band's measured coverage per horizon.

    BUNDLE is a .tflite file or the name of a bundled model: default, bme280; or a state
    file (<station>.state.json, in [state] dir).

    Memory is the peak RSS of a fresh process that loads the bundle and forecasts once;
    latency is the median of 200 forecasts on the installed runtime.

    \b
    Example:
      edgecast inspect default --json
    """
    from .forecaster import bundle_path, load_forecaster
    from .measure import latency_ms, peak_rss
    if str(bundle).endswith(".state.json"):
        from .daemon.calibration import inspect_state
        try:
            click.echo(inspect_state(bundle, as_json))
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise click.ClickException(f"{bundle}: {exc}") from None
        return
    bundle = bundle_path(bundle)  # a file, or a bundled model's name
    try:
        forecaster = load_forecaster(bundle, runtime)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    meta = forecaster.bundle.meta
    report = {
        "file": str(bundle), "size_bytes": bundle.stat().st_size, "identity": forecaster.identity,
        "ops": meta.get("ops"), "latency": latency_ms(forecaster.runner),
        "memory": peak_rss(bundle, forecaster.runner.runtime), "metadata": meta,
    }
    if as_json:
        click.echo(json.dumps(report, indent=1))
        return
    m, s = meta.get("metrics", {}), meta["schema"]
    click.echo(f"{bundle}  ({report['size_bytes'] / 1024:.1f} KiB, sha256 {meta['sha256'][:12]}…)")
    click.echo(f"  model      {meta['kind']}, {meta.get('parameters')} parameters, graph {meta['graph_form']}, "
               f"quantisation {meta['quantization']}")
    click.echo(f"  input      {s['window_steps']} × {len(s['features'])} features, every {s['step_minutes']} min; "
               f"output {meta.get('output')}")
    click.echo(f"  features   {', '.join(s['features'])}")
    click.echo(f"  trained on {', '.join(meta['training']['sources'])}: {meta['training']['first']} … "
               f"{meta['training']['train_last']} (train part)")
    figures = [f"{part} MAE {m[f'{part}_mae']} °C (naive {m.get(f'naive_{part}_mae')})"
               for part in ("val", "test") if m.get(f"{part}_mae") is not None]
    protocol_name = m.get("protocol", m.get("split", "seed"))
    click.echo(f"  accuracy   {protocol_name} protocol: " + (", ".join(figures) or
               "trained on every window, no held-out part; its recipe's `years` figures are in BENCHMARKS.md"))
    for part, columns in meta.get("by_horizon", {}).items():  # a curve bundle
        hours = (1, 6, 12, 18, 24)
        naive = [min(p, y) for p, y in zip(columns["persistence"], columns["yesterday"])]
        click.echo(f"  per hour   {part}: " + ", ".join(f"+{h} h {columns['model'][h - 1]:.2f}" for h in hours)
                   + " °C (better naive " + ", ".join(f"{naive[h - 1]:.2f}" for h in hours) + ")")
    click.echo(f"  ops        {', '.join(meta.get('ops', []))}")
    click.echo(f"  runtime    {forecaster.identity['runtime']}: "
               f"median forecast {report['latency']['median_ms']:.3f} ms "
               f"(p99 {report['latency']['p99_ms']:.3f} ms)")
    mem = report["memory"]
    click.echo(f"  memory     peak RSS {mem['peak_rss_bytes'] / 2**20:.1f} MiB "
               f"(runtime alone {mem['runtime_baseline_bytes'] / 2**20:.1f} MiB, "
               f"model +{mem['model_share_bytes'] / 2**20:.1f} MiB)")
