"""Options and helpers shared by the commands: one ``--data`` and one way to load it.

Only click and the standard library at import time (``edgecast --help`` stays light);
the data package and NumPy are imported when a command loads data.
"""

from __future__ import annotations

import functools
from pathlib import Path

import click

DATA_HELP = ("Jena CSV file(s): the Keras jena_climate_2009_2016.csv[.zip|.xz] or its hourly copy, "
             "mpi_roof*.csv exports (10-minute or hourly) or the 2020 weather.csv[.xz]. Repeat to join "
             "several files in time order.")
DATA_ENV = "EDGECAST_DATA"  # --data's fallback: one path, or several separated by spaces
TRAINING_HOME = ("training and export run from a source checkout of edgecast (git clone, then `make setup`), "
                 "not from the wheel a box installs")


def training_unavailable(exc: ImportError) -> click.ClickException:
    """The one message for `train`, `export` and Keras `evaluate` without the training side."""
    if getattr(exc, "name", None) == "training":
        return click.ClickException(f"{TRAINING_HOME}: the `training` package is not importable here")
    return click.ClickException(f"{TRAINING_HOME}, with the [train] extra (TensorFlow, statsmodels): {exc}")


# What each protocol does, for the --protocol help of the commands that offer it: each
# command's help describes its own choices only.
PROTOCOLS = {
    "seed": "the Keras book's split of one file by rows, 50/25/25 %",
    "reference": "the same as seed",
    "years": "train on the years before 2021, validate on 2021, test on 2022, from every file given "
             "(per-quarter and per-month figures)",
    "whole": "every window of the files, no split",
    "final": "train on every window with the recipe's fixed epochs — the model to ship",
    "stations": "split by place (edgecast/places.py): --data is a folder with Jena's files and stations/ "
                "(e.g. ../shared/data); per-station figures",
}


def protocol_help(choices) -> str:
    return " ".join(f"{name}: {PROTOCOLS[name]}." for name in choices)


LATITUDE_HELP = ("Where the station stands: latitude in decimal degrees, north positive (with --longitude). "
                 "Default: the file's entry in a stations.json beside it, else Jena's (said on stderr).")
LONGITUDE_HELP = "Longitude in decimal degrees, east positive (with --latitude)."
TIMEZONE_HELP = ("The files' times without a UTC offset are this zone's civil time (IANA name, e.g. "
                 "Europe/Berlin): converted to UTC with its daylight saving — rows of the repeated autumn hour "
                 "placed by file order (first pass summer time), rows that cannot be placed or fall in the "
                 "skipped spring hour dropped; `edgecast data check` counts both. Default: such times are UTC. "
                 "A time with an offset (Z, +01:00) is converted by its own offset.")
PLACE_KEY = "edgecast.place"  # ctx.meta: (latitude, longitude, timezone) of the command line


def _check_zone(ctx, param, value):
    if value is None:
        return None
    import zoneinfo
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r}; an IANA name such as Europe/Berlin, "
                                 "America/Sao_Paulo or UTC") from None
    return value


def _place_options(f):
    """--latitude/--longitude/--timezone, kept out of the command's own signature: checked here,
    then left in ``ctx.meta`` for :func:`load_data`."""
    @functools.wraps(f)
    def command(*args, latitude=None, longitude=None, timezone=None, **kwargs):
        if (latitude is None) != (longitude is None):
            given, missing = ("--latitude", "--longitude") if longitude is None else ("--longitude", "--latitude")
            raise click.UsageError(f"{given} without {missing}: give both (decimal degrees, north and east "
                                   "positive) or neither")
        click.get_current_context().meta[PLACE_KEY] = (latitude, longitude, timezone)
        return f(*args, **kwargs)
    command = click.option("--timezone", metavar="ZONE", default=None, callback=_check_zone,
                           help=TIMEZONE_HELP)(command)
    command = click.option("--longitude", type=click.FloatRange(-180, 180), default=None, metavar="DEG",
                           help=LONGITUDE_HELP)(command)
    return click.option("--latitude", type=click.FloatRange(-90, 90), default=None, metavar="DEG",
                        help=LATITUDE_HELP)(command)


def data_option(required: bool = True, help: str = DATA_HELP, place: bool = True):
    """The ``--data`` option (repeatable, or $EDGECAST_DATA) as every command spells it, with
    (``place``) --latitude/--longitude/--timezone for :func:`load_data`; the command's
    signature stays ``data_paths`` alone.

    ``required`` is checked here rather than by click: click would mark the option
    ``[required]`` in the help although $EDGECAST_DATA can stand in for it."""
    def present(ctx, param, value):
        if required and not value and not ctx.resilient_parsing:
            raise click.UsageError(f"Missing option '--data': give --data FILE (repeat to join several) "
                                   f"or set ${DATA_ENV}", ctx=ctx)
        return value

    def decorate(f):
        if place:
            f = _place_options(f)
        text = help + (f" Required: here or in ${DATA_ENV}." if required else f" Or ${DATA_ENV}.")
        return click.option("--data", "data_paths", multiple=True, envvar=DATA_ENV, callback=present,
                            type=click.Path(path_type=Path), help=text)(f)
    return decorate


def protocol_option(choices, default: str):
    def decorate(f):
        return click.option("--protocol", "protocol_name", type=click.Choice(choices), default=default,
                            show_default=True, help=protocol_help(choices))(f)
    return decorate


def load_data(paths, protocol_name: str | None = None, *, location=None, timezone: str | None = None,
              note_assumed_location: bool = False):
    """The joined series of ``paths`` (the stations protocol: the places of one folder); a
    bad file is a one-line error naming file and line.

    ``location`` and ``timezone`` default to the command line's --latitude/--longitude and
    --timezone (see :func:`data_option`); ``note_assumed_location``: one line on stderr when
    no one said where the station stands (Jena's location is taken).
    """
    from .data import DataError, load
    ctx = click.get_current_context(silent=True)
    latitude, longitude, zone = ctx.meta.get(PLACE_KEY, (None, None, None)) if ctx else (None, None, None)
    if location is None and latitude is not None:
        from .solar import Location
        location = Location(latitude, longitude)
    timezone = timezone or zone
    try:
        if protocol_name == "stations":
            from .places import load_places
            if location is not None or timezone is not None:
                raise click.UsageError("the stations protocol takes every place's location from its stations.json "
                                       "and its times as UTC: --latitude/--longitude/--timezone do not apply")
            if len(paths) != 1:
                raise DataError("the stations protocol reads one data folder: --data ../shared/data")
            return load_places(paths[0], log=lambda line: click.echo(line, err=True))
        series = load(list(paths), location=location, timezone=timezone)
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    if note_assumed_location and series.location_assumed:
        click.echo(f"note: no location given (--latitude/--longitude) nor in a stations.json beside the data: "
                   f"Jena's assumed ({series.location.describe()})", err=True)
    return series
