"""The cheap members: weekly seasonal-naive (the baseline every forecast is held against), a
weekly window average, and exponential smoothing (statsmodels, imported when fitting)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.base import Forecaster
from forecasting.series import SEASON


class SeasonalNaive(Forecaster):
    """Each day repeats the same weekday of the last week: the obvious guess to beat."""

    alias = "seasonal_naive"

    def _fit(self, y: pd.Series) -> None:
        self.last_season_ = y.to_numpy()[-self.season_length :]

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        return _repeat_last_season(y.to_numpy(), h, self.season_length)


class WindowAverage(Forecaster):
    """Each day is the mean of the same weekday over the last `window` weeks: seasonal-naive with
    the week-to-week noise averaged out, robust to one odd day."""

    alias = "window_average"

    def __init__(self, window: int = 4, season_length: int = SEASON) -> None:
        super().__init__(season_length)
        self.window = window

    def _fit(self, y: pd.Series) -> None:
        self.weeks_used_ = min(self.window, max(1, len(y) // self.season_length))

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        values = y.to_numpy()
        m = self.season_length
        weeks = min(self.window, max(1, len(values) // m))
        if len(values) < m:
            return _repeat_last_season(values, h, m)
        profile = values[len(values) - weeks * m :].reshape(weeks, m).mean(axis=0)
        return np.resize(profile, h)


class Ets(Forecaster):
    """Additive exponential smoothing with a damped trend and weekly seasonality (statsmodels
    ETS), which follows level changes that the weekly repeats only catch a week late."""

    alias = "ets"

    def _fit(self, y: pd.Series) -> None:
        if len(y) < 3 * self.season_length:
            raise ValueError(f"ETS needs at least {3 * self.season_length} days, got {len(y)}")
        self.start_ = y.index[0]
        self.result_ = self._model(y).fit(disp=False)

    def _model(self, y: pd.Series) -> Any:
        """A statsmodels ETSModel over `y` from the fitted first day on."""
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        series = y.loc[self.start_ :] if hasattr(self, "start_") else y
        series = series.asfreq("D")
        return ETSModel(
            series,
            error="add",
            trend="add",
            damped_trend=True,
            seasonal="add",
            seasonal_periods=self.season_length,
        )

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        result = self.result_ if y is self.y_ else self._smooth(y)
        return np.asarray(result.forecast(h), dtype=float)

    def _forecast_origins(self, y: pd.Series, origins: Sequence[int], h: int) -> np.ndarray:
        """One smoothing pass over `y`, then each origin's forecast from the states at its eve
        (level + damped trend + the weekday's latest seasonal state): the same numbers as
        smoothing every prefix, for the price of one."""
        states = self._smooth(y).states
        level, trend, season = (states[c].to_numpy() for c in ("level", "trend", "seasonal"))
        names = self.result_.model.param_names
        phi = float(np.asarray(self.result_.params)[names.index("damping_trend")])
        steps = np.arange(1, h + 1)
        damping = np.cumsum(phi**steps)
        m = self.season_length
        back = m * ((steps - 1) // m + 1)  # the same weekday's seasonal state, at or before the eve
        offset = y.index.get_loc(self.start_)
        rows = [o - 1 - offset for o in origins]
        return np.vstack([level[t] + damping * trend[t] + season[t + steps - back] for t in rows])

    def _smooth(self, y: pd.Series) -> Any:
        """The fitted parameters run over `y` (same first day as the fit), without refitting."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self._model(y).smooth(self.result_.params)

    def _spread(self, h: int) -> np.ndarray:
        n = len(self.result_.model.endog)
        prediction = self.result_.get_prediction(start=n, end=n + h - 1)
        return np.sqrt(np.maximum(np.asarray(prediction.var_pred_mean, dtype=float), 0.0))


def _repeat_last_season(values: np.ndarray, h: int, m: int) -> np.ndarray:
    if len(values) == 0:
        return np.zeros(h)
    if len(values) < m:
        return np.full(h, float(np.mean(values)))
    return np.resize(values[-m:], h).astype(float)
