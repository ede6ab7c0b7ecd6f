"""The ``edgecast`` command line.

Device commands (run, replay, watch, inspect, evaluate of a bundle) never import
TensorFlow; ``train``, ``export`` and ``evaluate`` of a Keras model import the
``training`` package lazily, inside the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .data import DataError

DATA_HELP = ("Jena CSV file(s): the Keras jena_climate_2009_2016.csv[.zip|.xz], mpi_roof*.csv exports "
             "or the 2020 weather.csv[.xz]. Repeat to join several files in time order. "
             "Default: $EDGECAST_DATA.")


def data_option(f):
    return click.option("--data", "data_paths", multiple=True, required=True, envvar="EDGECAST_DATA",
                        type=click.Path(dir_okay=False, path_type=Path), help=DATA_HELP)(f)


def _load(paths):
    from .data import load
    try:
        return load(list(paths))
    except DataError as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__)
def main():
    """On-device 24-hour temperature forecasts from weather-sensor readings over MQTT.

    \b
    Workstation:  edgecast data fetch       get the Jena climate data
                  edgecast evaluate naive   the baseline every model must beat
                  edgecast train KIND       fit a model (needs the [train] extra)
                  edgecast export MODEL     convert it to a TFLite bundle
    Sensor box:   edgecast run              the forecasting daemon
                  edgecast replay / watch   drive it with real data, see its forecasts
    Try it all:   edgecast demo --data F    broker + daemon + replay on one screen
    """


# --- data ---------------------------------------------------------------------------------
@main.group()
def data():
    """Get and check the Jena climate data."""


@data.command("fetch")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory to store it in. Default: $EDGECAST_DATA_DIR or ~/.cache/edgecast.")
@click.option("--sha256", default=None, help="Pin the archive's SHA-256 (printed after a first download).")
def data_fetch(dest, sha256):
    """Download the official Keras archive jena_climate_2009_2016.csv.zip (13 MB).

    The file's content is verified (420,551 rows, 2009-01-01 to 2017-01-01) and its
    SHA-256 printed; pass --sha256 to pin it on later machines.
    """
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
    """Check a local Jena file and copy it into the data directory."""
    from .data.fetch import default_data_dir, import_local
    try:
        path = import_local(source, dest or default_data_dir())
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(path)


@data.command("check")
@data_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def data_check(data_paths, as_json):
    """Load file(s) and report rows, time range and faults (duplicates, gaps, -9999 codes)."""
    series = _load(data_paths)
    report = {"sources": series.sources, "rows": len(series), "first": str(series.times[0]),
              "last": str(series.times[-1]), **series.quality.as_dict()}
    if as_json:
        click.echo(json.dumps(report))
    else:
        for key, value in report.items():
            click.echo(f"{key:>16}: {value}")


# --- evaluate -------------------------------------------------------------------------------
@main.command()
@click.argument("model")
@data_option
@click.option("--runtime", type=click.Choice(["auto", "litert", "tflite-runtime"]), default="auto",
              show_default=True, help="TFLite runtime for a bundle.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def evaluate(model, data_paths, runtime, as_json):
    """Measure MODEL on the reference protocol: validation and test MAE in °C.

    MODEL is `naive` (temperature in 24 h = temperature now), a model directory
    written by `edgecast train` (Keras, needs the [train] extra), or a bundle written by
    `edgecast export` — evaluated through the TFLite runtime, without TensorFlow: the
    honest accuracy of what ships.
    """
    series = _load(data_paths)
    from . import protocol
    if model == "naive":
        result = protocol.evaluate(series.values, protocol.naive_predict(series.values))
    else:
        result = _evaluate_model(Path(model), series, runtime)
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"{model}: validation MAE {result['val_mae']:.2f} °C over {result['val_windows']} windows, "
                   f"test MAE {result['test_mae']:.2f} °C over {result['test_windows']} windows")


def _evaluate_model(path: Path, series, runtime: str) -> dict:
    from . import protocol
    if path.is_dir():
        try:
            from training.train import evaluate_model_dir
        except ImportError as exc:
            raise click.ClickException(f"evaluating a Keras model needs the training extra ({exc})") from None
        return evaluate_model_dir(path, series)
    from .bundle import BundleError
    from .features import series_columns
    from .forecaster import load_forecaster
    try:
        forecaster = load_forecaster(path, runtime)
    except BundleError as exc:
        raise click.ClickException(str(exc)) from None
    columns = series_columns(forecaster.schema, series.times, series.values)
    return protocol.evaluate(series.values,
                             lambda starts: forecaster.runner.predict(protocol.windows(columns, starts)))


from .cli_bundle import export, inspect  # noqa: E402  (commands live beside their concern)

main.add_command(export)
main.add_command(inspect)

from .daemon.cli import replay as _replay, run as _run, watch as _watch  # noqa: E402

main.add_command(_run)
main.add_command(_replay)
main.add_command(_watch)

from .cli_train import train  # noqa: E402  (imports TensorFlow inside the command only)
main.add_command(train)


@main.command()
@data_option
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
    """
    from .demo import DemoError, run_demo
    if start is None:
        from . import protocol
        series = _load(data_paths)
        first_test = protocol.split_rows(len(series))["val"][1]
        start = str(series.times[first_test].astype("datetime64[D]") + 1)
    try:
        sys.exit(run_demo(list(data_paths), start, live_hours, speed, echo=click.echo))
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None

if __name__ == "__main__":
    sys.exit(main())
