"""Forecasting engine, pure: daily series in, forecasts with 80/95% bands out; no database, no
web. Importing it is cheap: statsmodels, pmdarima and TensorFlow load only when a model that
needs them is fitted.

MODELS is the registry (alias -> class); every class follows the contract of `base.Forecaster`.
"""

from __future__ import annotations

import os

# Processes that fit models (the worker, the evaluation CLI) import this before numpy: one BLAS
# thread each, so parallel fits on a small machine do not oversubscribe its cores. AutoArima also
# limits BLAS at fit time, for processes that loaded numpy first.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from forecasting.arima import AutoArima
from forecasting.base import LEVELS, Forecast, Forecaster, NotFitted
from forecasting.ensemble import Ensemble
from forecasting.lstm import Lstm
from forecasting.models import Ets, SeasonalNaive, WindowAverage
from forecasting.series import daily

MODELS: dict[str, type[Forecaster]] = {
    cls.alias: cls for cls in (SeasonalNaive, WindowAverage, Ets, AutoArima, Lstm, Ensemble)
}


def make_model(alias: str, **params: object) -> Forecaster:
    """An unfitted model by its alias."""
    try:
        return MODELS[alias](**params)
    except KeyError:
        raise ValueError(f"unknown model {alias!r}; known: {', '.join(MODELS)}") from None


__all__ = [
    "LEVELS",
    "MODELS",
    "AutoArima",
    "Ensemble",
    "Ets",
    "Forecast",
    "Forecaster",
    "Lstm",
    "NotFitted",
    "SeasonalNaive",
    "WindowAverage",
    "daily",
    "make_model",
]
