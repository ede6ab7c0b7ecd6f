"""``edgecast train``: fit one model of the table (needs the ``[train]`` extra).

TensorFlow is imported inside the command only, so ``edgecast --help`` and every
device command stay TF-free; the kinds are listed from ``training.kinds``, whose
import is TF-free too.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_options import data_option, load_data, protocol_option, training_unavailable


def _kinds():
    """training.kinds.KINDS, or None where the training package is not installed beside edgecast."""
    try:
        from training.kinds import KINDS
    except ImportError:
        return None
    return KINDS


class _TrainCommand(click.Command):
    def format_epilog(self, ctx, formatter):
        # built at help time, so the list always matches the registry
        kinds = _kinds()
        if kinds:
            with formatter.section("Kinds"):
                formatter.write_dl([(k.name, k.description + k.notes()) for k in kinds.values()])


@click.command(cls=_TrainCommand)
@click.argument("kind")
@data_option()
@protocol_option(("seed", "reference", "years", "final", "stations"), "seed")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Maximum epochs (early stopping may end sooner). Default: the kind's own.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Model directory to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights and shuffling.")
@click.option("--patience", type=click.IntRange(min=1), default=None,
              help="Early-stopping patience in epochs. Default: the kind's own.")
@click.option("--limit-rows", type=click.IntRange(min=1), default=None,
              help="Use only the first N rows (quick runs; the protocol splits those N rows).")
@click.option("--train-stride", type=click.IntRange(min=1), default=None,
              help="Fit on every N-th train window (neighbours an hour apart are near-copies). "
                   "Default: the kind's own (1 for the book's models).")
def train(kind, data_paths, protocol_name, epochs, out_dir, seed, patience, limit_rows, train_stride):
    """Train model KIND on a protocol and write a model directory.

    \b
    OUT/model.keras        the Keras model (output: temperature in °C in 24 h)
    OUT/model.weights.h5   the same weights
    OUT/metadata.json      schema with the train part's statistics, hyper-parameters,
                           data range, val/test MAE beside naive, parameters, timing
    OUT/curves.png         training/validation curves
    The best validation epoch is kept (protocol final has none: the recipe's fixed
    epochs). `arima` writes metadata.json only; `ridge` and `lightgbm` write metadata.json
    and their fitted model (ridge.npz, lightgbm.txt). Every kind is scored the same way.
    Then: `edgecast evaluate OUT --data ...`, `edgecast export OUT`.

    \b
    Example:
      edgecast train compact_lstm --data jena_climate_2009_2016_hourly.csv.xz --protocol seed --out runs/lstm
    """
    kinds = _kinds()
    if kinds is None:
        raise training_unavailable(ModuleNotFoundError("no module named 'training'", name="training"))
    if kind not in kinds or not kinds[kind].trainable:
        trainable = [k.name for k in kinds.values() if k.trainable]
        raise click.ClickException(f"unknown kind {kind!r}; choose one of: {', '.join(trainable)}"
                                   + (" (naive has nothing to fit: `edgecast evaluate naive`)"
                                      if kind == "naive" else ""))
    if not kinds[kind].runs_on(protocol_name):
        raise click.UsageError(f"{kind} runs on the {', '.join(kinds[kind].family.protocols)} protocols only")
    series = load_data(data_paths, protocol_name, note_assumed_location=True)
    try:
        from training.train import train as run
    except ImportError as exc:
        raise training_unavailable(exc) from None
    try:
        run(kind, out_dir=out_dir, epochs=epochs, seed=seed, patience=patience, limit_rows=limit_rows,
            series=series, protocol_name=protocol_name, train_stride=train_stride,
            log=lambda msg: click.echo(msg, err=True))
    except (ValueError, ImportError) as exc:  # DataError included: a channel or year the data lacks;
        raise click.ClickException(str(exc)) from None  # ImportError: an extra (e.g. peers) missing
    click.echo(out_dir)
