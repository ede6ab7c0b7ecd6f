"""The reference protocol: window/target alignment and the published naive figures."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgecast import protocol
from edgecast.schema import TARGET_INDEX


def test_window_alignment_by_hand():
    # 2000 rows whose temperature equals the row number make every index visible.
    n = 2000
    values = np.zeros((n, 14))
    values[:, TARGET_INDEX] = np.arange(n)
    assert protocol.split_rows(n)["val"] == (1000, 1500)
    starts = protocol.window_starts(n, "train")
    # Keras: num_seqs = end - start - (120-1)*6 = 1000 - 714 = 286 windows
    assert len(starts) == 286 and starts[0] == 0 and starts[-1] == 285
    w = protocol.windows(values, starts[:2])
    assert w.shape == (2, 120, 14)
    assert list(w[1, :3, TARGET_INDEX]) == [1, 7, 13] and w[1, -1, TARGET_INDEX] == 1 + 714
    # target: 24 h (144 rows) after the last input step = start + 858
    assert list(protocol.target_rows(starts[:2])) == [858, 859]
    naive = protocol.naive_predict(values)(starts[:2])
    assert list(naive) == [714, 715]


def test_naive_reproduces_published_2020_figures(series_2020):
    result = protocol.evaluate(series_2020.values, protocol.naive_predict(series_2020.values))
    assert round(result["val_mae"], 2) == 2.82
    assert round(result["test_mae"], 2) == 2.15
    assert result["val_windows"] == 12_460 and result["test_windows"] == 11_602


def test_cli_evaluate_naive_json_without_tensorflow(jena_2020_path):
    # The command must work on a box without TensorFlow: block the import and run it.
    code = ("import sys; sys.modules['tensorflow'] = None; sys.modules['keras'] = None; "
            "from edgecast.cli import main; main()")
    out = subprocess.run([sys.executable, "-c", code, "evaluate", "naive", "--data", str(jena_2020_path), "--json"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert set(result) == {"val_mae", "test_mae", "val_windows", "test_windows"}
    assert (round(result["val_mae"], 2), round(result["test_mae"], 2)) == (2.82, 2.15)


def test_cli_bad_data_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.csv"
    bad.write_text("hello,world\n1,2\n")
    proc = subprocess.run([sys.executable, "-m", "edgecast.cli", "evaluate", "naive", "--data", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "notes.csv, line 1: no time column" in proc.stderr and "Traceback" not in proc.stderr


def test_split_all_fits_on_90_percent_and_validates_on_the_rest():
    n = 20_000
    parts = protocol.split_rows(n, "all")
    assert parts["train"] == (0, 18_000) and parts["val"] == (18_000, n - protocol.DELAY_ROWS)
    val = protocol.window_starts(n, "val", "all")
    # as the protocol's test part (Keras: data[:-delay]): the last window ends `delay` rows early
    assert protocol.last_step_rows(val)[-1] == n - protocol.DELAY_ROWS - 1 and val[0] == 18_000
    assert protocol.evaluated_parts("all") == ("val",)
    with pytest.raises(ValueError, match="too few"):
        protocol.window_starts(n, "test", "all")
    with pytest.raises(ValueError, match="unknown split"):
        protocol.split_rows(n, "random")
