"""Every model kind in one list: naive, ARIMA, the peers, each Keras recipe.

Each kind says how it is described, fitted and scored again, whether it becomes a TFLite
bundle, which protocols it runs on and which of `edgecast train`'s options it honours.
`edgecast train` (its choices and --help), `edgecast evaluate MODEL_DIR`, the export's
refusal and training/scripts/benchmark_models.py all read this list, so a new kind is
added here once. Naive is a kind like the others (the baseline every table starts with)
with nothing to fit: `edgecast evaluate naive` scores it.

Importing this module imports neither TensorFlow, statsmodels nor LightGBM: the fit and
score functions are named here ("module:function") and imported when one is called.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from edgecast.protocol import ROW_PROTOCOLS

from . import arima, models, peers


@dataclass(frozen=True)
class Family:
    """How a family of kinds is fitted and scored; the functions are named, not imported.

    ``fit(kind, series, out_dir, run: train.Run) -> metadata`` writes a model directory;
    ``evaluate(path, meta, series, protocol_name) -> figures`` scores one again."""

    fit: str | None  # None: nothing to fit (naive)
    evaluate: str | None
    exportable: bool  # a Keras model the export converts to a TFLite bundle
    options: tuple[str, ...] = ()  # `edgecast train` options it honours beyond --seed
    protocols: tuple[str, ...] | None = None  # None: every protocol

    def fitter(self) -> Callable:
        return _resolve(self.fit)

    def evaluator(self) -> Callable:
        return _resolve(self.evaluate)


NAIVE = Family(fit=None, evaluate=None, exportable=False)
ARIMA = Family(fit="training.train:fit_arima", evaluate="training.train:evaluate_arima", exportable=False,
               protocols=ROW_PROTOCOLS)  # its Kalman filter needs a gap-free series
PEER = Family(fit="training.train:fit_peer", evaluate="training.peers:evaluate", exportable=False)
KERAS = Family(fit="training.train:fit_keras", evaluate="training.train:evaluate_keras", exportable=True,
               options=("epochs", "patience", "train_stride"))


@dataclass(frozen=True)
class Kind:
    name: str
    description: str
    family: Family

    @property
    def trainable(self) -> bool:
        return self.family.fit is not None

    def runs_on(self, protocol_name: str) -> bool:
        return self.family.protocols is None or protocol_name in self.family.protocols

    def notes(self) -> str:
        """What a user should know before choosing it, for `edgecast train --help`."""
        said = [] if self.trainable else ["nothing to fit: `edgecast evaluate naive`"]
        if self.family.protocols is not None:
            said.append(f"protocols {', '.join(self.family.protocols)} only")
        if self.trainable and not self.family.exportable:
            said.append("not exported to TFLite")
        return f" [{'; '.join(said)}]" if said else ""


NAIVE_DESCRIPTION = "the temperature now, as the forecast for 24 h later: the baseline every kind must beat"

KINDS: dict[str, Kind] = {
    "naive": Kind("naive", NAIVE_DESCRIPTION, NAIVE),
    **{name: Kind(name, peer.description, PEER) for name, peer in peers.PEERS.items()},
    "arima": Kind("arima", arima.DESCRIPTION, ARIMA),
    **{name: Kind(name, spec.description, KERAS) for name, spec in models.MODELS.items()},
}
TRAINABLE = [name for name, kind in KINDS.items() if kind.trainable]


def get(name: str) -> Kind:
    """The kind ``name``; a recipe an experiment adds to models.MODELS while it runs
    (training/experiments/anyroof_levels.py screens variants so) is a Keras kind too."""
    if name in KINDS:
        return KINDS[name]
    if name in models.MODELS:
        return Kind(name, models.MODELS[name].description, KERAS)
    raise ValueError(f"unknown model kind {name!r}; choose one of: {', '.join(KINDS)}")


def _resolve(target: str | None) -> Callable:
    if target is None:
        raise ValueError("naive has nothing to fit or load: `edgecast evaluate naive` scores it")
    module, function = target.split(":")
    return getattr(importlib.import_module(module), function)
