"""The evaluation CLI, run as a user runs it (a subprocess on a CSV file): the JSON report's
shape and arithmetic, the readable table, the progress line, and a wrong column name."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from settings import PROJECT_ROOT
from tests.forecast_series import shop_series

FAST = "seasonal_naive,window_average,ets"


@pytest.fixture
def csv_path(tmp_path):
    """Two channels in long format; Saturdays and the closure have no rows at all."""
    frames = []
    for channel, seed in (("shop", 1), ("marketplace", 2)):
        y = shop_series(days=120, seed=seed)
        y = y[y > 0]
        frames.append(pd.DataFrame({"day": y.index.date, "channel": channel, "revenue": y.to_numpy()}))
    path = tmp_path / "daily.csv"
    pd.concat(frames).to_csv(path, index=False)
    return path


def evaluate(csv_path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "forecasting.evaluate", "--csv", str(csv_path), "--date-col", "day"]
    return subprocess.run([*command, *extra], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def test_json_report(csv_path):
    args = ("--value-col", "revenue", "--id-col", "channel", "--horizon", "7", "--folds", "2", "--members", FAST)
    result = evaluate(csv_path, *args, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["rows"]
    assert {(r["series"], r["model"]) for r in rows} == {
        (s, m)
        for s in ("marketplace/revenue", "shop/revenue")
        for m in ("ensemble", "seasonal_naive", "window_average", "ets")
    }
    assert all(set(r) == {"series", "model", "mase", "smape", "coverage80", "coverage95", "fit_s"} for r in rows)
    assert all(0 <= r["coverage80"] <= r["coverage95"] <= 1 and r["mase"] > 0 and r["fit_s"] >= 0 for r in rows)
    mase = {(r["series"], r["model"]): r["mase"] for r in rows}
    relative = [mase[s, "ensemble"] / mase[s, "seasonal_naive"] for s in ("marketplace/revenue", "shop/revenue")]
    assert report["ensemble_relative_mase"] == pytest.approx(math.sqrt(relative[0] * relative[1]))
    assert report["ensemble_relative_mase_max"] == pytest.approx(max(relative))
    assert "series 2/2 shop/revenue: fold 2/2" in result.stderr


def test_table_without_json(csv_path):
    result = evaluate(csv_path, "--value-col", "revenue", "--horizon", "7", "--folds", "2", "--members", FAST)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["series", "model", "MASE", "sMAPE", "cov80", "cov95", "fit", "s"]
    assert any(line.startswith("revenue") and " ensemble " in line for line in lines)
    assert lines[-1].startswith("geometric mean: ")


def test_a_wrong_column_is_named(csv_path):
    result = evaluate(csv_path, "--value-col", "sales")
    assert result.returncode != 0
    assert "'sales'" in result.stderr and "revenue" in result.stderr
