"""The forecaster contract (statsforecast-style): `fit(y) -> self`, `predict(h, level)`, `alias`,
`new()`. Fitted attributes end in `_`; constructor arguments are the only other state, so `new()`
can rebuild an unfitted twin from them."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from forecasting.series import SEASON, closed_steps, daily

LEVELS = (80, 95)
Forecast = dict[str, np.ndarray]


class NotFitted(RuntimeError):
    """predict() before fit()."""


class Forecaster:
    """A model of one daily series. Subclasses implement `_fit` and `_forecast_after`, and may
    give `_spread` (the standard deviation of the error per horizon step) for their own bands."""

    alias: ClassVar[str] = ""

    def __init__(self, season_length: int = SEASON) -> None:
        self.season_length = season_length

    # -- the contract -------------------------------------------------------------------------
    def fit(self, y: pd.Series) -> Forecaster:
        """Fit on a daily series (missing days count as zero sales)."""
        y = daily(y)
        if len(y) == 0:
            raise ValueError("cannot fit an empty series")
        self.y_ = y
        self.nonnegative_ = bool((y >= 0).all())
        self._fit(y)
        return self

    def predict(self, h: int, level: Sequence[int] = LEVELS) -> Forecast:
        """The next `h` days: "mean" plus "lo-L"/"hi-L" for each level L (percent). Weekdays the
        shop has lately not traded on are 0, band included."""
        self._check_fitted()
        return self._closed_days_zero(self._predict(h, level))

    def _closed_days_zero(self, forecast: Forecast) -> Forecast:
        h = len(forecast["mean"])
        closed = closed_steps(self.y_.to_numpy(), h, self.season_length)
        return {key: np.where(closed, 0.0, values) for key, values in forecast.items()}

    def new(self) -> Forecaster:
        """An unfitted model with the same settings."""
        return type(self)(**self.params())

    # -- what the ensemble and the backtest use -----------------------------------------------
    def reuse(self) -> Forecaster:
        """An unfitted model that keeps what an expensive fit chose (AutoArima: its order), for a
        cheaper refit on newer data. Models that choose nothing expensive just give `new()`."""
        return self.new()

    def forecast_origins(self, y: pd.Series, origins: Sequence[int], h: int) -> np.ndarray:
        """Point forecasts (len(origins) x h) for the h days after y[:o] for each origin o, with
        the parameters already fitted and no refit: one fit scores many backtest origins. Closed
        weekdays are 0 here too, as in predict()."""
        self._check_fitted()
        matrix = np.array(self._forecast_origins(y, origins, h), dtype=float)
        values = y.to_numpy()
        for row, origin in enumerate(origins):
            matrix[row, closed_steps(values[:origin], h, self.season_length)] = 0.0
        return np.maximum(matrix, 0.0) if self.nonnegative_ else matrix

    def params(self) -> dict[str, Any]:
        """The constructor arguments, read back from the attributes of the same name."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    # -- for subclasses ------------------------------------------------------------------------
    def _fit(self, y: pd.Series) -> None:
        raise NotImplementedError

    def _predict(self, h: int, level: Sequence[int]) -> Forecast:
        """Mean and bands before closed weekdays are zeroed: the mean with normal bands of the
        model's error spread."""
        return self._bands(self._forecast_after(self.y_, h), self._spread(h), level)

    def _forecast_origins(self, y: pd.Series, origins: Sequence[int], h: int) -> np.ndarray:
        return np.vstack([self._forecast_after(y.iloc[:o], h) for o in origins])

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        """Point forecast of the h days after the end of `y` (a prefix or extension of the fitted
        series) with the fitted parameters."""
        raise NotImplementedError

    def _spread(self, h: int) -> np.ndarray:
        """Error standard deviation per step. Default: the weekly seasonal-naive's (its in-sample
        weekly differences, growing with each completed week), for models with no variance of
        their own; the ensemble replaces all of this with backtest-calibrated bands."""
        y = self.y_.to_numpy()
        m = self.season_length
        diffs = y[m:] - y[:-m] if len(y) > m else y - y.mean()
        sigma = float(np.sqrt(np.mean(diffs**2))) if len(diffs) else 0.0
        steps = np.arange(h)
        return sigma * np.sqrt(steps // m + 1)

    def _bands(self, mean: np.ndarray, sd: np.ndarray, level: Sequence[int]) -> Forecast:
        out: Forecast = {"mean": np.asarray(mean, dtype=float)}
        for lv in level:
            z = NormalDist().inv_cdf(0.5 + lv / 200.0)
            out[f"lo-{lv}"] = out["mean"] - z * sd
            out[f"hi-{lv}"] = out["mean"] + z * sd
        return clip_forecast(out, self.nonnegative_)

    def _check_fitted(self) -> None:
        if not hasattr(self, "y_"):
            raise NotFitted(f"{type(self).__name__} is not fitted; call fit(y) first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def clip_forecast(forecast: Forecast, nonnegative: bool) -> Forecast:
    """A series that was never negative (sales, orders, units) gets no negative mean or bound."""
    if not nonnegative:
        return forecast
    return {key: np.maximum(values, 0.0) for key, values in forecast.items()}
