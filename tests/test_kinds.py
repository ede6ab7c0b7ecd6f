"""One list of model kinds (training.kinds): `edgecast train` (choices and --help), the
model directory's evaluation and export, and the benchmark's table all read it."""

from __future__ import annotations

import argparse
import ast
import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgecast.cli import main
from training import arima, kinds, models, peers
from training.scripts import benchmark_models


def test_every_kind_is_listed_once_with_its_own_description():
    expected = {"naive", "arima", *peers.PEERS, *models.MODELS}
    assert set(kinds.KINDS) == expected and len(kinds.KINDS) == len(expected)
    assert kinds.KINDS["arima"].description == arima.DESCRIPTION
    for name, spec in models.MODELS.items():
        assert kinds.KINDS[name].description == spec.description and kinds.KINDS[name].family.exportable
    assert not any(kinds.KINDS[k].family.exportable for k in ("naive", "arima", *peers.PEERS))


def test_train_help_and_the_benchmark_read_the_same_list():
    help_text = CliRunner().invoke(main, ["train", "--help"], terminal_width=200).output
    listed = [line.split()[0] for line in help_text.split("Kinds:")[1].splitlines() if line.startswith("  ")
              and not line.startswith("   ")]
    assert listed == list(kinds.KINDS)
    assert sorted(benchmark_models.ORDER) == sorted(kinds.KINDS)


def test_every_fit_and_evaluate_named_in_the_list_exists():
    """Read from the modules' source: importing training.train would import TensorFlow."""
    for kind in kinds.KINDS.values():
        for target in (kind.family.fit, kind.family.evaluate) if kind.trainable else ():
            module, function = target.split(":")
            tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
            assert function in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}, target


@pytest.mark.parametrize("args, said", [
    (["train", "naive"], "`edgecast evaluate naive`"),
    (["train", "arima", "--protocol", "years"], "arima runs on the seed, reference protocols only"),
])
def test_train_refuses_what_its_kind_cannot_do_before_reading_data(args, said, tmp_path):
    result = CliRunner().invoke(main, [*args, "--data", str(tmp_path / "absent.csv"), "--out", str(tmp_path / "m")])
    assert result.exit_code != 0 and said in result.output, result.output
    assert not (tmp_path / "m").exists()


def test_the_benchmark_passes_keras_options_to_keras_kinds_only():
    args = argparse.Namespace(
        data=["f.csv"], protocol="seed", out_root="/tmp/x", seed=0, epochs=3, patience=2, train_stride=4)
    keras_cmd = benchmark_models._command("compact_lstm", args)
    assert keras_cmd[-6:] == ["--epochs", "3", "--patience", "2", "--train-stride", "4"]
    assert "--epochs" not in benchmark_models._command("ridge", args)
    assert benchmark_models._command("naive", args)[:3] == ["edgecast", "evaluate", "naive"]


def test_a_recipe_added_while_running_is_a_keras_kind(monkeypatch):
    """What training/experiments/anyroof_levels.py does to screen variants of a recipe."""
    monkeypatch.setitem(models.MODELS, "screen_variant", models.MODELS["compact_lstm"])
    assert kinds.get("screen_variant").family is kinds.KERAS
    with pytest.raises(ValueError, match="unknown model kind 'nonsense'"):
        kinds.get("nonsense")
