"""AutoArima: pmdarima's stepwise order search with weekly seasonality. The search is the
expensive part, so the chosen order is a fitted attribute: `reuse()` (or passing `order` and
`seasonal_order`) refits that order on new data without searching again."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from forecasting.base import Forecaster
from forecasting.series import SEASON

Order = tuple[int, int, int]
SeasonalOrder = tuple[int, int, int, int]


class AutoArima(Forecaster):
    """Seasonal ARIMA on the last `window` days (older days change the dynamics little and cost
    search time). The search is bounded (p, q <= 2; P, Q <= 1; one weekly difference; no drift
    term: trend is left to ETS's damped trend, and the search runs about three times faster),
    which keeps a retrain of many series inside a couple of minutes on two cores."""

    alias = "auto_arima"

    def __init__(
        self,
        order: Order | None = None,
        seasonal_order: SeasonalOrder | None = None,
        window: int = 365,
        season_length: int = SEASON,
    ) -> None:
        super().__init__(season_length)
        self.order = tuple(order) if order is not None else None
        self.seasonal_order = tuple(seasonal_order) if seasonal_order is not None else None
        self.window = window

    def _fit(self, y: pd.Series) -> None:
        import pmdarima
        from threadpoolctl import threadpool_limits

        values = y.to_numpy()[-self.window :]
        if len(values) < 4 * self.season_length:
            raise ValueError(f"ARIMA needs at least {4 * self.season_length} days, got {len(values)}")
        # One BLAS thread: these matrices are tiny, and a 2-core machine fits several series.
        with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.order is None:
                model = pmdarima.auto_arima(
                    values,
                    m=self.season_length,
                    seasonal=True,
                    D=1,
                    max_p=2,
                    max_q=2,
                    max_P=1,
                    max_Q=1,
                    with_intercept=False,
                    stepwise=True,
                    suppress_warnings=True,
                    error_action="ignore",
                )
                self.searched_ = True
            else:
                seasonal = self.seasonal_order or (0, 1, 1, self.season_length)
                model = pmdarima.ARIMA(order=self.order, seasonal_order=seasonal, suppress_warnings=True)
                model.fit(values)
                self.searched_ = False
        self.model_ = model
        self.order_: Order = tuple(model.order)
        self.seasonal_order_: SeasonalOrder = tuple(model.seasonal_order)

    def reuse(self) -> AutoArima:
        """An unfitted AutoArima that refits the order this fit chose instead of searching."""
        return AutoArima(self.order_, self.seasonal_order_, self.window, self.season_length)

    def _result_for(self, y: pd.Series) -> Any:
        """statsmodels results with the fitted parameters over the last `window` days of `y`."""
        result = self.model_.arima_res_
        if y is self.y_:
            return result
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return result.apply(y.to_numpy()[-self.window :], refit=False)

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        return np.asarray(self._result_for(y).forecast(h), dtype=float)

    def _spread(self, h: int) -> np.ndarray:
        forecast = self._result_for(self.y_).get_forecast(h)
        return np.asarray(forecast.se_mean, dtype=float)
