"""Forecast accuracy: MASE, sMAPE and interval coverage, the figures every backtest reports."""

from __future__ import annotations

import numpy as np

from forecasting.series import SEASON, seasonal_naive_mae


def mase(actual: np.ndarray, forecast: np.ndarray, train: np.ndarray, season: int = SEASON) -> float:
    """Mean absolute error scaled by the training data's in-sample weekly seasonal-naive MAE:
    below 1 beats what the naive guess did on the past."""
    error = np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float)))
    return float(error / seasonal_naive_mae(train, season))


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0..200); a day that is zero in both counts as exact, so days
    without sales neither divide by zero nor drown the figure."""
    a = np.abs(np.asarray(actual, float))
    f = np.abs(np.asarray(forecast, float))
    denominator = a + f
    error = np.abs(np.asarray(actual, float) - np.asarray(forecast, float))
    ratio = np.divide(error, denominator, out=np.zeros_like(error), where=denominator > 0)
    return float(200.0 * np.mean(ratio))


def coverage(actual: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of actual values inside [lo, hi]."""
    a = np.asarray(actual, float)
    return float(np.mean((a >= np.asarray(lo, float)) & (a <= np.asarray(hi, float))))
