"""Small hand-made daily series for the forecasting tests: a weekly pattern with noise, a
weekday the shop never trades, and a holiday closure, as real shop data has."""

from __future__ import annotations

import numpy as np
import pandas as pd

WEEKLY = np.array([1.0, 1.2, 1.1, 1.3, 1.0, 0.0, 0.5])  # Monday..Sunday; no trading on Saturdays


def shop_series(days: int = 140, level: float = 100.0, noise: float = 0.15, seed: int = 0, closure: bool = True):
    """Daily sales from Monday 2024-01-01: the weekly pattern times a slowly rising level, with
    multiplicative noise; Saturdays are zero, and (with `closure`) 10 days around day 40 too."""
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=days, freq="D")
    trend = level * (1 + 0.002 * np.arange(days))
    values = trend * WEEKLY[index.day_of_week] * rng.lognormal(0.0, noise, days)
    if closure:
        values[40:50] = 0.0
    return pd.Series(values, index=index, name="sales")
