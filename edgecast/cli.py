"""The ``edgecast`` command line.

Device commands (run, replay, watch, inspect, evaluate of a bundle) never import
TensorFlow; ``train``, ``export`` and ``evaluate`` of a Keras model import the
``training`` package lazily, inside the command.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import click

from . import __version__
from .cli_options import data_option, load_data, protocol_option, training_unavailable

EVALUATE_PROTOCOLS = ("seed", "reference", "years", "whole", "stations")
# Workstation commands in modules of their own, registered when first asked for: `edgecast run`
# on a box does not keep their code resident (BENCHMARKS.md, "Against the import floor").
LAZY_COMMANDS = {"export": "edgecast.cli_bundle", "inspect": "edgecast.cli_bundle", "train": "edgecast.cli_train"}


class _Group(click.Group):
    """The top-level group: LAZY_COMMANDS join it when one is named, and every one of them
    before anything lists the commands or reports a name that is none of them (so --help
    and "No such command ... Did you mean" read the same as with all of them registered)."""

    def _register_lazy(self) -> None:
        for name, module in LAZY_COMMANDS.items():
            if name not in self.commands:
                self.add_command(getattr(importlib.import_module(module), name))

    def get_command(self, ctx, cmd_name):
        if cmd_name not in self.commands:
            self._register_lazy()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx):
        self._register_lazy()
        return super().list_commands(ctx)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__)
def main():
    """On-device 24-hour temperature forecasts from weather-sensor readings over MQTT.

    \b
    Workstation:  edgecast data fetch       get the Jena climate data
                  edgecast evaluate naive   the baseline every model must beat
                  edgecast train KIND       fit a model (source checkout + [train] extra)
                  edgecast export MODEL     convert it to a TFLite bundle
    Sensor box:   edgecast config check     validate a configuration and its model
                  edgecast run              the forecasting daemon
                  edgecast replay / watch   drive it with real data, see its forecasts
    Try it all:   edgecast demo --data F    broker + daemon + replay on one screen
    """


# --- data ---------------------------------------------------------------------------------
@main.group()
def data():
    """Get and check the Jena climate data.

    \b
    Example:
      edgecast data check --data jena_climate_2009_2016.csv.zip
    """


@data.command("fetch")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory to store it in. Default: $EDGECAST_DATA_DIR or ~/.cache/edgecast.")
@click.option("--sha256", default=None, help="Pin the archive's SHA-256 (printed after a first download).")
def data_fetch(dest, sha256):
    """Download the official Keras archive jena_climate_2009_2016.csv.zip (13 MB).

    The file's content is verified (420,551 rows, 2009-01-01 to 2017-01-01) and its
    SHA-256 printed; pass --sha256 to pin it on later machines.

    \b
    Example:
      edgecast data fetch --dest ~/data
    """
    from .data import DataError
    from .data.fetch import KERAS_URL, default_data_dir, fetch_keras, sha256_of
    dest = dest or default_data_dir()
    click.echo(f"downloading {KERAS_URL}", err=True)
    try:
        path = fetch_keras(dest, expected_sha256=sha256)
    except (OSError, DataError) as exc:
        raise click.ClickException(f"download failed: {exc}") from None
    click.echo(f"{path}\nsha256 {sha256_of(path)}\nuse it with:  --data {path}")


@data.command("import")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory to store it in. Default: $EDGECAST_DATA_DIR or ~/.cache/edgecast.")
def data_import(source, dest):
    """Check a local Jena file and copy it into the data directory.

    \b
    Example:
      edgecast data import ../shared/data/weather.csv.xz
    """
    from .data import DataError
    from .data.fetch import default_data_dir, import_local
    try:
        path = import_local(source, dest or default_data_dir())
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(path)


@data.command("check")
@data_option()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def data_check(data_paths, as_json):
    """Load file(s) and report what each holds and what is wrong with it.

    Per file: rows, time range (UTC), how its times were read (UTC, their own offsets, or
    --timezone's civil time with the daylight-saving repairs counted), where the station
    stands and where that came from (stations.json, given, or Jena's assumed), the detected
    row step (10 min or 1 h), the model channels present, derived from p/T/rh, or lacking,
    and its faults (duplicate and backward times, gaps, -9999 codes, empty fields). Then
    the joined series and its hourly grid: the hours a model can see, as the daemon would
    build them from live readings. A file in the wrong units is refused by name.

    \b
    Example:
      edgecast data check --data mpi_roof_2022_hourly.csv.xz --json
    """
    series = load_data(data_paths)
    grid = series.hourly()
    files = []
    for f in series.files:
        files.append({**f.report(), "first": str(series.times[f.first_row]), "last": str(series.times[f.end_row - 1]),
                      "location": series.location.as_dict()})
    from .resample import OBSERVED
    from .schema import TARGET_INDEX
    report = {"files": files, "rows": len(series), "first": str(series.times[0]), "last": str(series.times[-1]),
              "location": series.location.as_dict(), "location_source": series.location_source,
              **{k: v for k, v in series.quality.as_dict().items() if k != "rows"},
              "hours": len(grid), "hours_with_temperature": int((grid.status[:, TARGET_INDEX] == OBSERVED).sum())}
    if as_json:
        click.echo(json.dumps(report))
        return
    for f in files:
        click.echo(f"{f['path']}")
        click.echo(f"  {f['rows']} rows, {f['first']} .. {f['last']} UTC, one row every {f['step_minutes']} min")
        click.echo(f"  times     {f['times']}")
        if f["dst_repeated"] or f["dst_unresolved"] or f["dst_skipped"]:
            click.echo(f"  DST       {f['dst_repeated']} rows of a repeated autumn hour placed by file order, "
                       f"{f['dst_unresolved']} dropped (no second pass to tell summer from winter time), "
                       f"{f['dst_skipped']} dropped (a skipped spring hour: that local time does not exist)")
        source = f["location_source"]
        source = {"given": "given (--latitude/--longitude)"}.get(source, source if source.startswith("assumed")
                                                                 else f"from {source}")
        click.echo(f"  location  {series.location.describe()}, {source}")
        click.echo(f"  channels  {', '.join(f['channels'])}")
        if f["derived"]:
            click.echo(f"  derived   {', '.join(f['derived'])} (from p, T and rh)")
        if f["lacking"]:
            click.echo(f"  lacking   {', '.join(f['lacking'])} (models that read them are refused)")
        faults = [f"{f['duplicate_times']} duplicate times", f"{f['backward_steps']} backward steps",
                  f"{f['gaps']} gaps (largest {f['largest_gap_hours']} h)"]
        faults += [f"{n} × -9999 in {c}" for c, n in f["sentinels"].items()]
        faults += [f"{n} empty {c}" for c, n in f["empty"].items()]
        click.echo(f"  faults    {', '.join(faults)}")
    click.echo(f"joined: {report['rows']} rows, {report['first']} .. {report['last']}, {report['gaps']} gaps; "
               f"hourly grid {report['hours']} hours, {report['hours_with_temperature']} with a temperature")


# --- evaluate -------------------------------------------------------------------------------
@main.command()
@click.argument("model")
@data_option()
@protocol_option(EVALUATE_PROTOCOLS, "seed")
@click.option("--runtime", type=click.Choice(["auto", "litert", "tflite-runtime"]), default="auto",
              show_default=True, help="TFLite runtime for a bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--per-horizon", is_flag=True,
              help="MAE at every horizon +1 … +24 h, per part (`by_horizon`), of the two naive curves, "
                   "persistence (T now) and yesterday (T at the same hour yesterday), and beside them of a "
                   "curve bundle (horizons 1 … 24). naive or a curve bundle only: a +24 h bundle or a model "
                   "directory is refused (a trained curve model's figures are in its metadata.json).")
def evaluate(model, data_paths, protocol_name, runtime, as_json, per_horizon):
    """Measure MODEL on a protocol: MAE in °C per part, beside the naive forecast's.

    MODEL is `naive` (temperature in 24 h = temperature now), a model directory
    written by `edgecast train` (Keras, needs the [train] extra), or a bundle written by
    `edgecast export` (or a bundled model's name: default, bme280) — evaluated through
    the TFLite runtime, without TensorFlow: the honest accuracy of what ships.

    \b
    Examples:
      edgecast evaluate naive --data jena_climate_2009_2016_hourly.csv.xz --protocol seed
    \b
      edgecast evaluate default --protocol years --data jena_climate_2009_2016_hourly.csv.xz \\
          --data mpi_roof_2017b.csv.xz --data weather.csv.xz --data mpi_roof_2021_hourly.csv.xz \\
          --data mpi_roof_2022_hourly.csv.xz
    \b
      edgecast evaluate default --per-horizon --protocol whole --data mpi_roof_2022_hourly.csv.xz
    """
    from . import protocol
    from .data import DataError
    if per_horizon and model != "naive" and Path(model).is_dir():
        raise click.UsageError("--per-horizon scores naive or a curve bundle; a trained curve model's figures "
                               "per horizon are in its metadata.json (by_horizon)")
    series = load_data(data_paths, protocol_name, note_assumed_location=True)
    try:
        if model == "naive":
            layout = protocol.layout(protocol_name, series)
            result = protocol.evaluate(layout, layout.naive)
            if per_horizon:
                result["by_horizon"] = protocol.evaluate_horizons(layout)
        else:
            result = _evaluate_model(model, series, protocol_name, runtime, per_horizon)
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(_describe(model, protocol_name, result))


def _describe(model: str, protocol_name: str, result: dict) -> str:
    lines = []
    for part in ("val", "test", "all"):
        prefix = "" if part == "all" else f"{part}_"
        if f"{prefix}mae" in result:
            name = {"val": "validation", "test": "test", "all": "all windows"}[part]
            lines.append(f"{name:>12}: MAE {result[f'{prefix}mae']:.3f} °C, "
                         f"naive {result[f'naive_{prefix}mae']:.3f} °C over {result[f'{prefix}windows']} windows")
        for period in ("by_quarter", "by_month"):
            for key, r in result.get(f"{prefix}{period}", {}).items():
                lines.append(f"{key:>12}: MAE {r['mae']:.3f} °C, naive {r['naive_mae']:.3f} °C "
                             f"({1 - r['mae'] / r['naive_mae']:+.1%} better) over {r['windows']} windows")
    for part, rows in result.get("by_horizon", {}).items():
        model_column = "model" in rows[0]  # a curve bundle, beside the naives
        lines.append(f"{part} part, MAE °C by horizon:   h" + ("  model" if model_column else "")
                     + "  persistence  yesterday  windows")
        for r in rows:
            model_mae = f"  {r['model']:>5.3f}" if model_column else ""
            lines.append(f"{'':>30}{r['h']:>3}{model_mae}  {r['persistence']:>11.3f}  {r['yesterday']:>9.3f}  "
                         f"{r['windows']:>7}")
    return f"{model} on the {protocol_name} protocol\n" + "\n".join(lines)


def _evaluate_model(model: str, series, protocol_name: str, runtime: str, per_horizon: bool = False) -> dict:
    from . import protocol
    path = Path(model)
    if path.is_dir():
        try:
            from training.train import evaluate_model_dir
        except ImportError as exc:
            raise training_unavailable(exc) from None
        try:
            return evaluate_model_dir(path, series, protocol_name)
        except (ValueError, ImportError) as exc:  # not a model dir; lightgbm without the peers extra
            raise click.ClickException(str(exc)) from None
    from .bundle import BundleError
    from .forecaster import bundle_path, load_forecaster
    try:
        forecaster = load_forecaster(bundle_path(model), runtime)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    if per_horizon and len(forecaster.horizons) == 1:
        raise click.UsageError(f"{model} forecasts +24 h only (horizons {forecaster.horizons}); --per-horizon needs "
                               "a curve bundle (edgecast export of a curve model, or with --curve), or naive")
    layout, curves = forecaster.on_layout(protocol_name, series)
    result = protocol.evaluate(layout, lambda starts: curves(starts)[:, -1])
    if per_horizon:
        result["by_horizon"] = protocol.evaluate_horizons(layout, {"model": curves})
    return result


from .daemon.cli import config_group, discovery_group, replay as _replay, run as _run, watch as _watch  # noqa: E402

main.add_command(_run)
main.add_command(config_group)
main.add_command(discovery_group)
main.add_command(_replay)
main.add_command(_watch)


@main.command()
@data_option(place=False)  # the demo's replay reads the files as UTC
@click.option("--start", default=None,
              help="First replayed reading, ISO 8601. Default: midnight after the reference protocol's "
                   "test part begins (data no model was trained on).")
@click.option("--live-hours", type=click.IntRange(1, 2000), default=48, show_default=True,
              help="Hours replayed live after the 5-day warm-up.")
@click.option("--speed", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Live replay speed-up (3600 = one hour of readings per second).")
def demo(data_paths, start, live_hours, speed):
    """See it work: broker, daemon, replay of real data and forecasts vs actuals, in ~1 minute.

    Starts a private mosquitto on a free loopback port, `edgecast run` with the bundled
    model, `edgecast watch`, and `edgecast replay` of real Jena readings; stops them all
    at the end. Needs the mosquitto binary (apt-get install mosquitto).

    \b
    Example:
      edgecast demo --data ../shared/data/weather.csv.xz --live-hours 24
    """
    from .demo import DemoError, run_demo
    if start is None:
        from . import protocol
        series = load_data(data_paths)
        first_test = protocol.split_rows(len(series), 3600 // series.step_seconds)["val"][1]
        start = str(series.times[first_test].astype("datetime64[D]") + 1)
    try:
        sys.exit(run_demo(list(data_paths), start, live_hours, speed, echo=click.echo))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None

if __name__ == "__main__":
    sys.exit(main())
