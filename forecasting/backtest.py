"""Rolling-origin backtests: where the folds start, how a model is scored on them, and the
conformal bands built from the errors it made there."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecasting.base import Forecast, clip_forecast
from forecasting.metrics import coverage, mase, smape
from forecasting.series import SEASON

MAX_CALIBRATION_ORIGINS = 91  # a quarter of a year of daily origins: enough errors for a 95% band
MIN_TRAIN_DAYS = 4 * SEASON


def fold_origins(n: int, h: int, folds: int, step: int | None = None) -> list[int]:
    """The training lengths of `folds` rolling origins whose last h-day window ends at n, `step`
    days apart (default h: the test windows tile the end of the series without overlap)."""
    step = step or h
    origins = [n - h - k * step for k in range(folds - 1, -1, -1)]
    if origins[0] < MIN_TRAIN_DAYS:
        raise ValueError(f"{n} days cannot hold {folds} folds of {h} days after {MIN_TRAIN_DAYS} training days")
    return origins


def calibration_origins(n: int, h: int) -> list[int]:
    """Daily origins over the last quarter of the series (at most a quarter of a year): the
    backtest an ensemble weighs its members and calibrates its bands on. Empty when the series
    is too short to spare any."""
    span = min(MAX_CALIBRATION_ORIGINS, (n - h) // 4)
    first = n - h - span + 1
    if span < 2 or first < MIN_TRAIN_DAYS:
        return []
    return list(range(first, n - h + 1))


def conformal_bands(
    mean: np.ndarray, abs_errors: np.ndarray, level: Sequence[int], nonnegative: bool, scale: float = 1.0
) -> Forecast:
    """Bands of `mean` from backtest errors (origins x steps, each divided by the series' size
    at its origin): at each horizon step, the split-conformal quantile of the errors made at
    that step, times `scale` (the size now). Steps beyond the backtest's horizon take its last
    step's width."""
    h = len(mean)
    out: Forecast = {"mean": np.asarray(mean, dtype=float)}
    for lv in level:
        width = conformal_width(abs_errors, lv) * scale
        width = np.concatenate([width, np.full(max(0, h - len(width)), width[-1])])[:h]
        out[f"lo-{lv}"] = out["mean"] - width
        out[f"hi-{lv}"] = out["mean"] + width
    return clip_forecast(out, nonnegative)


def conformal_width(abs_errors: np.ndarray, lv: float) -> np.ndarray:
    """Per step, the ceil((n + 1) * level)-th smallest of n absolute errors (the finite-sample
    conformal quantile; the largest when n is too small for the level)."""
    n = abs_errors.shape[0]
    rank = min(n, math.ceil((n + 1) * lv / 100.0))
    return np.sort(abs_errors, axis=0)[rank - 1]


@dataclass(frozen=True)
class Score:
    """One model's figures on one fold (or pooled over folds)."""

    mase: float
    smape: float
    coverage80: float
    coverage95: float


def score(actual: np.ndarray, forecast: Forecast, train: np.ndarray) -> Score:
    """MASE, sMAPE and 80/95 coverage of one forecast against the days that followed."""
    return Score(
        mase=mase(actual, forecast["mean"], train),
        smape=smape(actual, forecast["mean"]),
        coverage80=coverage(actual, forecast["lo-80"], forecast["hi-80"]),
        coverage95=coverage(actual, forecast["lo-95"], forecast["hi-95"]),
    )


def mean_score(scores: Sequence[Score]) -> Score:
    """Fold scores averaged (folds have equal length, so coverage averages exactly)."""
    return Score(*(float(np.mean([getattr(s, f) for s in scores])) for f in Score.__dataclass_fields__))


def split(y: pd.Series, origin: int, h: int) -> tuple[pd.Series, np.ndarray]:
    """The training part of a fold and the h actual days after it."""
    return y.iloc[:origin], y.iloc[origin : origin + h].to_numpy()
