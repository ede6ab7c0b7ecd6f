"""Options and helpers shared by the commands: one ``--data`` and one way to load it.

Only click and the standard library at import time (``edgecast --help`` stays light);
the data package and NumPy are imported when a command loads data.
"""

from __future__ import annotations

from pathlib import Path

import click

DATA_HELP = ("Jena CSV file(s): the Keras jena_climate_2009_2016.csv[.zip|.xz] or its hourly copy, "
             "mpi_roof*.csv exports (10-minute or hourly) or the 2020 weather.csv[.xz]. Repeat to join "
             "several files in time order. Default: $EDGECAST_DATA.")
TRAINING_HOME = ("training and export run from a source checkout of edgecast (git clone, then `make setup`), "
                 "not from the wheel a box installs")


def training_unavailable(exc: ImportError) -> click.ClickException:
    """The one message for `train`, `export` and Keras `evaluate` without the training side."""
    if getattr(exc, "name", None) == "training":
        return click.ClickException(f"{TRAINING_HOME}: the `training` package is not importable here")
    return click.ClickException(f"{TRAINING_HOME}, with the [train] extra (TensorFlow, statsmodels): {exc}")


PROTOCOL_HELP = ("seed: the Keras book's split of one file by rows, 50/25/25 % (alias reference). "
                 "years: train on the years before 2021, validate on 2021, test on 2022, from every file "
                 "given (per-quarter and per-month figures). whole: every window of the files, no split. "
                 "final: train on every window with the recipe's fixed epochs — the model to ship. "
                 "stations: split by place (edgecast/places.py): --data is a folder with Jena's files and "
                 "stations/ (e.g. ../shared/data); per-station figures.")


def data_option(required: bool = True, help: str = DATA_HELP):
    """The ``--data`` option (repeatable, $EDGECAST_DATA) as every command spells it."""
    def decorate(f):
        return click.option("--data", "data_paths", multiple=True, required=required, envvar="EDGECAST_DATA",
                            type=click.Path(path_type=Path), help=help)(f)
    return decorate


def protocol_option(choices, default: str):
    def decorate(f):
        return click.option("--protocol", "protocol_name", type=click.Choice(choices), default=default,
                            show_default=True, help=PROTOCOL_HELP)(f)
    return decorate


def load_data(paths, protocol_name: str | None = None):
    """The joined series of ``paths`` (the stations protocol: the places of one folder); a
    bad file is a one-line error naming file and line."""
    from .data import DataError, load
    try:
        if protocol_name == "stations":
            from .places import load_places
            if len(paths) != 1:
                raise DataError("the stations protocol reads one data folder: --data ../shared/data")
            return load_places(paths[0], log=lambda line: click.echo(line, err=True))
        return load(list(paths))
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
