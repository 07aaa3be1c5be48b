"""Daily series as every model sees them: one value per calendar day, missing days as zero."""

from __future__ import annotations

import numpy as np
import pandas as pd

SEASON = 7  # weekly seasonality: the pattern every daily sales series has
RECENT_WEEKS = 4  # "lately": the weeks that say a weekday is closed, and the current size of a series


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


def closed_steps(values: np.ndarray, h: int, season: int = SEASON) -> np.ndarray:
    """Which of the h days after `values` fall on a weekday without a sale in each of the last
    RECENT_WEEKS weeks while other weekdays sold: a day the shop does not trade (UCI's Saturdays),
    forecast as zero by every model. A series silent on every day marks nothing."""
    span = RECENT_WEEKS * season
    if len(values) < span:
        return np.zeros(h, dtype=bool)
    closed = np.all(np.asarray(values[-span:]).reshape(RECENT_WEEKS, season) == 0, axis=0)
    if closed.all():
        return np.zeros(h, dtype=bool)
    return np.resize(closed, h)  # step s falls on the weekday of column s % season


def recent_size(values: np.ndarray, season: int = SEASON) -> float:
    """Mean absolute value over the last RECENT_WEEKS weeks (the whole series when that is zero;
    1 when everything is): what the ensemble's errors are measured against, so its bands grow
    and shrink with the series."""
    for part in (values[-RECENT_WEEKS * season :], values):
        size = float(np.mean(np.abs(part))) if len(part) else 0.0
        if size > 0:
            return size
    return 1.0


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


def read_series(path: str, date_col: str, value_col: str, id_col: str | None) -> dict[str, pd.Series]:
    """One daily series per id (or the whole file), named `id/value` (or `value`)."""
    frame = pd.read_csv(path)
    for col in (date_col, value_col, id_col):
        if col and col not in frame.columns:
            raise ValueError(f"column {col!r} is not in {path} (columns: {', '.join(frame.columns)})")
    frame[date_col] = pd.to_datetime(frame[date_col])
    groups = frame.groupby(id_col, sort=True) if id_col else [(None, frame)]
    out = {}
    for key, group in groups:
        name = f"{key}/{value_col}" if id_col else value_col
        out[name] = daily(pd.Series(group[value_col].to_numpy(), index=pd.DatetimeIndex(group[date_col])))
    return out
