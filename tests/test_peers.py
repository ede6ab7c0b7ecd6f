"""The peers (ridge, LightGBM) through `edgecast train/evaluate/export`, and the benchmark's tables.

Real data, short slices: the first 3,000 hours of the 2009–2016 copy (seed) and the
July 2017 … 2022 files (years). Needs the [train] and [peers] extras.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

_MISSING = [m for m in ("tensorflow", "keras", "lightgbm") if importlib.util.find_spec(m) is None]
if _MISSING:
    if os.environ.get("EDGECAST_REQUIRE_ALL") == "1":
        raise ImportError(f"required in CI: the [train] and [peers] extras ({_MISSING} missing)")
    pytest.skip(f"the [train]/[peers] extras are not installed ({_MISSING} missing)", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402

from edgecast.cli import main  # noqa: E402
from training import peers  # noqa: E402
from training.scripts import benchmark_models  # noqa: E402

from .conftest import shared_file  # noqa: E402

pytestmark = pytest.mark.slow  # fits ridge and LightGBM models
SEED_ROWS = 3000
YEARS = ("mpi_roof_2017b.csv.xz", "mpi_roof_2021_hourly.csv.xz", "mpi_roof_2022_hourly.csv.xz")
KEYS = {"kind", "val_mae", "test_mae", "naive_val_mae", "naive_test_mae", "parameters", "trainable_parameters",
        "parameters_unit", "epochs_run", "train_seconds", "data", "versions", "schema", "hyperparameters"}


def _cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout  # stderr carries notes (e.g. an assumed location)


@pytest.fixture(scope="module")
def seed_slice(tmp_path_factory):
    """The first SEED_ROWS hours of the 2009–2016 copy, as a file `evaluate` can read too."""
    lines = subprocess.run(["xz", "-dc", str(shared_file("jena_climate_2009_2016_hourly.csv.xz"))],
                           capture_output=True, check=True).stdout.splitlines()
    path = tmp_path_factory.mktemp("data") / "jena_2009_slice.csv"
    path.write_bytes(b"\n".join(lines[:SEED_ROWS + 1]) + b"\n")
    return path


@pytest.fixture(scope="module")
def trained(seed_slice, tmp_path_factory):
    """(protocol, kind) -> model directory, trained through the CLI."""
    root = tmp_path_factory.mktemp("peers")
    years = [a for name in YEARS for a in ("--data", shared_file(name))]
    dirs = {}
    for kind in peers.PEERS:
        dirs["seed", kind] = root / f"seed_{kind}"
        _cli("train", kind, "--data", seed_slice, "--protocol", "seed", "--out", dirs["seed", kind])
        dirs["years", kind] = root / f"years_{kind}"
        _cli("train", kind, *years, "--protocol", "years", "--out", dirs["years", kind])
    return dirs


def _meta(path):
    return json.loads((path / "metadata.json").read_text())


@pytest.mark.parametrize("kind", list(peers.PEERS))
def test_peer_writes_metadata_and_model_and_reevaluates(trained, seed_slice, kind):
    path = trained["seed", kind]
    meta = _meta(path)
    assert KEYS <= set(meta) and meta["kind"] == kind and meta["epochs_run"] is None
    assert (path / peers.PEERS[kind].file).stat().st_size > 0
    assert meta["data"]["protocol"] == "seed" and meta["data"]["rows"] == SEED_ROWS
    if kind == "ridge":  # one coefficient per window value, plus the intercept
        assert meta["parameters_unit"] == "coefficients" and meta["parameters"] == 120 * len(peers.RIDGE_FEATURES) + 1
        assert meta["hyperparameters"]["alpha"] in peers.RIDGE_ALPHAS
    else:
        assert meta["parameters_unit"] == "leaves" and meta["parameters"] >= meta["hyperparameters"]["trees"] >= 1
    # the same windows as naive: `edgecast evaluate naive` gives the recorded naive figures
    naive = json.loads(_cli("evaluate", "naive", "--data", seed_slice, "--protocol", "seed", "--json"))
    assert (meta["naive_val_mae"], meta["naive_test_mae"]) == (naive["val_mae"], naive["test_mae"])
    assert 0.5 < meta["val_mae"] < 6 and 0.5 < meta["test_mae"] < 6
    # the saved model re-scores to the recorded figures
    again = json.loads(_cli("evaluate", path, "--data", seed_slice, "--protocol", "seed", "--json"))
    assert again["val_mae"] == pytest.approx(meta["val_mae"], abs=1e-4)
    assert again["test_mae"] == pytest.approx(meta["test_mae"], abs=1e-4)


@pytest.mark.parametrize("kind", list(peers.PEERS))
def test_peer_on_years_has_quarters_and_beats_naive(trained, kind):
    meta = _meta(trained["years", kind])
    assert sorted(meta["test_by_quarter"]) == ["2022-Q1", "2022-Q2", "2022-Q3", "2022-Q4"]
    assert meta["data"]["train_last"] < "2021"
    # with only half a year of training data, still better than naive on the 2021 validation year
    assert meta["val_mae"] < meta["naive_val_mae"]


def test_export_refuses_a_peer_in_one_line(trained, tmp_path):
    result = CliRunner().invoke(main, ["export", str(trained["seed", "ridge"]), "-o", str(tmp_path / "r.tflite")])
    assert result.exit_code != 0 and "ridge is not a neural network and cannot be exported to TFLite" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "r.tflite").exists()


def test_missing_lightgbm_names_the_extra(seed_slice, tmp_path):
    code = "import sys; sys.modules['lightgbm'] = None; from edgecast.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code, "train", "lightgbm", "--data", str(seed_slice),
                           "--out", str(tmp_path / "m")], capture_output=True, text=True)
    assert proc.returncode != 0 and "edgecast[peers]" in proc.stderr and "Traceback" not in proc.stderr


def test_kind_list_imports_neither_tensorflow_nor_lightgbm():
    code = ("import sys; [sys.modules.__setitem__(m, None) for m in ('tensorflow', 'keras', 'lightgbm')]; "
            "from edgecast.cli import main; main(['train', '--help'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "ridge" in proc.stdout and "lightgbm" in proc.stdout and "arima" in proc.stdout


# --- the benchmark's tables ---------------------------------------------------------------
def test_benchmark_writes_one_section_per_protocol(trained, tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nhand-written text\n\n<!-- other:start -->\nkept\n<!-- other:end -->\n")
    seed_meta, years_meta = _meta(trained["seed", "ridge"]), _meta(trained["years", "lightgbm"])
    row = benchmark_models.row
    benchmark_models.write_table(path, "seed", {"ridge": row("ridge", seed_meta, "cmd-s", "seed")}, "n1")
    benchmark_models.write_table(path, "years", {"lightgbm": row("lightgbm", years_meta, "cmd-y", "years")}, "n2")
    text = path.read_text()
    assert "hand-written text" in text and "kept" in text
    assert text.count("<!-- model-table:seed:start -->") == 1 and text.count("<!-- model-table:years:end -->") == 1
    seed_rows = benchmark_models.existing_rows(text, "seed")
    years_rows = benchmark_models.existing_rows(text, "years")
    assert list(seed_rows) == ["ridge"] and list(years_rows) == ["lightgbm"]
    # years: four quarter columns, each with its change against naive; seed: the book's rows
    cells = [c.strip() for c in years_rows["lightgbm"].split("|")]
    assert len(cells) == len(benchmark_models._header("years").splitlines()[0].split("|"))
    q1 = years_meta["test_by_quarter"]["2022-Q1"]
    assert f"{q1['mae']:.3f} ({100 * (q1['mae'] / q1['naive_mae'] - 1):+.1f} %)" in cells
    assert "book, published: gru_stacked" in text.split("<!-- model-table:years")[0]
    assert "`cmd-s`" in seed_rows["ridge"] and "coefficients" in seed_rows["ridge"]
    # a rewrite replaces the section in place and keeps the other protocol's rows
    seed_rows["lightgbm"] = row("lightgbm", _meta(trained["seed", "lightgbm"]), "cmd-l", "seed")
    benchmark_models.write_table(path, "seed", seed_rows, "n3")
    text = path.read_text()
    assert list(benchmark_models.existing_rows(text, "seed")) == ["ridge", "lightgbm"]
    assert benchmark_models.existing_rows(text, "years") == years_rows and "n1" not in text and "n3" in text
