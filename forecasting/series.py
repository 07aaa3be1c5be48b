"""Daily series as every model sees them: one value per calendar day, missing days as zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEASON = 7  # weekly seasonality: the pattern every daily sales series has


def daily(y: pd.Series) -> pd.Series:
    """`y` on every day from its first to its last, a day without a row counting as 0 (no sales),
    as float. Timestamps are floored to days and several rows on one day are summed, so a caller
    may pass raw daily rows; the index must be a DatetimeIndex."""
    if not isinstance(y.index, pd.DatetimeIndex):
        raise TypeError("a forecasting series needs a DatetimeIndex")
    if y.index.tz is not None:
        y = y.tz_localize(None)
    values = pd.to_numeric(y, errors="coerce").astype(float).fillna(0.0)
    values = values.groupby(values.index.normalize()).sum()
    if values.empty:
        return values
    days = pd.date_range(values.index.min(), values.index.max(), freq="D")
    return values.reindex(days, fill_value=0.0).rename(y.name)


def future_days(y: pd.Series, h: int) -> pd.DatetimeIndex:
    """The `h` days after the last day of `y`."""
    return pd.date_range(y.index[-1] + pd.Timedelta(days=1), periods=h, freq="D")


def seasonal_naive_mae(y: np.ndarray, season: int = SEASON) -> float:
    """In-sample MAE of the weekly seasonal-naive forecast: the scale of MASE. A series with no
    weekly change at all (constant) falls back to its mean size, then to 1, so MASE stays finite."""
    y = np.asarray(y, dtype=float)
    if len(y) > season:
        scale = float(np.mean(np.abs(y[season:] - y[:-season])))
        if scale > 0:
            return scale
    size = float(np.mean(np.abs(y))) if len(y) else 0.0
    return size if size > 0 else 1.0
