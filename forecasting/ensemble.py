"""Ensemble: a forecaster that weighs its members by how they did in a rolling-origin backtest.

Each member is fitted once on the series up to the first backtest origin and forecasts from
every later day without refitting (`forecast_origins`), then refitted on the whole series (via
`reuse()`, so AutoArima keeps the order it searched). In that backtest:

- a member whose fit or forecast raises, or gives a non-finite number, is dropped (recorded in
  `dropped_`), never failing the ensemble;
- a member whose MASE is worse than seasonal-naive's gets weight 0; the others get weights in
  proportion to 1 / MASE;
- if the weighted mean would still lose to seasonal-naive, or only one member is left, the
  forecast is that best single member, and `fallback_reason_` says why;
- the 80/95% bands are conformal: per horizon step, quantiles of the absolute errors the chosen
  forecast made in the backtest (not the members' own bands), each error divided by the series'
  recent size at its origin and the quantile multiplied by the size now, so the bands follow a
  series that grows (a shop's peak season) instead of keeping the width of a calmer past.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from forecasting.arima import AutoArima
from forecasting.backtest import calibration_origins, conformal_bands, conformal_width
from forecasting.base import LEVELS, Forecast, Forecaster
from forecasting.lstm import Lstm
from forecasting.metrics import smape
from forecasting.models import Ets, SeasonalNaive, WindowAverage
from forecasting.series import SEASON, recent_size, seasonal_naive_mae

log = logging.getLogger(__name__)
BASELINE = SeasonalNaive.alias


def default_members() -> list[Forecaster]:
    """Every member the engine fits by default."""
    return [SeasonalNaive(), WindowAverage(), Ets(), AutoArima(), Lstm()]


class Ensemble(Forecaster):
    """Backtest-weighted mean of its members with conformal bands; see the module docstring."""

    alias = "ensemble"

    def __init__(
        self,
        members: Sequence[Forecaster] | None = None,
        horizon: int = 14,
        season_length: int = SEASON,
    ) -> None:
        super().__init__(season_length)
        specs = list(members) if members is not None else default_members()
        if not any(m.alias == BASELINE for m in specs):
            specs.insert(0, SeasonalNaive(season_length))
        if len({m.alias for m in specs}) != len(specs):
            raise ValueError("ensemble members need distinct aliases")
        self.members = specs
        self.horizon = horizon

    def new(self) -> Ensemble:
        return Ensemble([m.new() for m in self.members], self.horizon, self.season_length)

    def reuse(self) -> Ensemble:
        """Unfitted, with each fitted member's choices kept (AutoArima's order)."""
        self._check_fitted()
        fitted = getattr(self, "members_", {})
        kept = [fitted[m.alias].reuse() if m.alias in fitted else m.new() for m in self.members]
        return Ensemble(kept, self.horizon, self.season_length)

    def _fit(self, y: pd.Series) -> None:
        h = self.horizon
        values = y.to_numpy()
        origins = calibration_origins(len(y), h)
        self.members_: dict[str, Forecaster] = {}
        self.fit_s_: dict[str, float] = {}
        self.dropped_: dict[str, str] = {}
        self.backtest_: dict[str, dict[str, float]] = {}
        self.weights_: dict[str, float] = {}
        if not origins:
            self._fit_baseline_only(y, f"{len(y)} days are too few to backtest a {h}-day horizon")
            return
        actual = np.vstack([values[o : o + h] for o in origins])
        scale = seasonal_naive_mae(values[: origins[0]], self.season_length)
        forecasts = {}
        for spec in self.members:
            matrix = self._fit_member(spec, y, origins)
            if matrix is not None:
                forecasts[spec.alias] = matrix
                self.backtest_[spec.alias] = _figures(actual, matrix, scale)
        self.origins_, self.actual_, self.scale_ = origins, actual, scale
        self._choose(actual, forecasts, scale)
        self.sizes_ = np.array([recent_size(values[:o], self.season_length) for o in origins])
        self.abs_errors_ = self._scaled_errors("ensemble")

    def _scaled_errors(self, alias: str) -> np.ndarray:
        """A backtest forecast's absolute errors, each divided by the series' size at its origin."""
        return np.abs(self.actual_ - self.backtest_forecasts_[alias]) / self.sizes_[:, None]

    def _fit_member(self, spec: Forecaster, y: pd.Series, origins: list[int]) -> np.ndarray | None:
        """Backtest forecasts of one member (fitted at the first origin), and the member refitted
        on all of `y`; None, with the reason in `dropped_`, when anything about it fails."""
        started = time.perf_counter()
        try:
            early = spec.new().fit(y.iloc[: origins[0]])
            matrix = early.forecast_origins(y, origins, self.horizon)
            final = early.reuse().fit(y)
            check = final.predict(self.horizon)["mean"]
            if not (np.all(np.isfinite(matrix)) and np.all(np.isfinite(check))):
                raise ValueError("forecast is not finite")
        except Exception as exc:  # a member must never fail the ensemble
            self.dropped_[spec.alias] = f"{type(exc).__name__}: {exc}"
            log.warning("ensemble_member_dropped member=%s error=%s", spec.alias, self.dropped_[spec.alias])
            return None
        finally:
            self.fit_s_[spec.alias] = time.perf_counter() - started
        self.members_[spec.alias] = final
        return matrix

    def _choose(self, actual: np.ndarray, forecasts: dict[str, np.ndarray], scale: float) -> None:
        """Weights, and the combined forecast or the fallback with the reason."""
        baseline = self.backtest_[BASELINE]["mase"]
        keep = {a: f for a, f in forecasts.items() if self.backtest_[a]["mase"] <= baseline}
        inverse = {a: 1.0 / max(self.backtest_[a]["mase"], 1e-9) for a in keep}
        total = sum(inverse.values())
        self.weights_ = {a: inverse.get(a, 0.0) / total for a in forecasts}
        combined = sum(self.weights_[a] * f for a, f in keep.items())
        self.backtest_["ensemble"] = _figures(actual, combined, scale)
        best = min(forecasts, key=lambda a: self.backtest_[a]["mase"])
        self.chosen_, self.fallback_reason_ = "ensemble", None
        if len(keep) == 1:
            self.chosen_ = best
            self.fallback_reason_ = f"only {best} is no worse than seasonal-naive in backtest"
        elif self.backtest_["ensemble"]["mase"] >= baseline:
            self.chosen_ = best
            self.fallback_reason_ = (
                f"the weighted ensemble (MASE {self.backtest_['ensemble']['mase']:.3f}) does not beat "
                f"seasonal-naive ({baseline:.3f}) in backtest; using the best member, {best}"
            )
        if self.chosen_ != "ensemble":
            self.weights_ = {a: float(a == best) for a in forecasts}
            log.info("ensemble_fallback chosen=%s reason=%r", best, self.fallback_reason_)
        chosen = combined if self.chosen_ == "ensemble" else forecasts[best]
        self.backtest_forecasts_ = {**forecasts, "ensemble": chosen}

    def backtest_figures(self, steps: int) -> dict[str, dict[str, float]]:
        """MASE and sMAPE of every member and of the chosen forecast ("ensemble") over the first
        `steps` days of each backtest origin (empty when the series was too short to backtest)."""
        self._check_fitted()
        if self.abs_errors_ is None:
            return {}
        actual = self.actual_[:, :steps]
        return {a: _figures(actual, f[:, :steps], self.scale_) for a, f in self.backtest_forecasts_.items()}

    def coverage_check(self, level: Sequence[int] = LEVELS) -> dict[int, float]:
        """Coverage of bands calibrated on the earlier half of the backtest origins, measured on
        the later half: a check that the bands hold on days they were not calibrated on."""
        self._check_fitted()
        if self.abs_errors_ is None or len(self.abs_errors_) < 4:
            return {}
        half = len(self.abs_errors_) // 2
        early, late = self.abs_errors_[:half], self.abs_errors_[half:]
        return {lv: float(np.mean(late <= conformal_width(early, lv))) for lv in level}

    def _fit_baseline_only(self, y: pd.Series, reason: str) -> None:
        started = time.perf_counter()
        baseline = SeasonalNaive(self.season_length).fit(y)
        self.fit_s_[BASELINE] = time.perf_counter() - started
        self.members_ = {BASELINE: baseline}
        self.weights_ = {BASELINE: 1.0}
        self.chosen_, self.fallback_reason_ = BASELINE, reason
        self.abs_errors_ = None

    def _predict(self, h: int, level: Sequence[int]) -> Forecast:
        """The chosen forecast with conformal bands (the baseline's own when too short to backtest)."""
        if self.abs_errors_ is None:
            return self.members_[BASELINE].predict(h, level)
        return self._banded(self._mean(h), self.abs_errors_, level)

    def member_forecasts(self, h: int, level: Sequence[int] = LEVELS) -> dict[str, Forecast]:
        """Each fitted member's own forecast, with conformal bands from its own backtest errors
        (what it would say if it were chosen): the comparison a seller or the API may ask for."""
        self._check_fitted()
        if self.abs_errors_ is None:
            return {BASELINE: self.members_[BASELINE].predict(h, level)}
        return {
            alias: self._closed_days_zero(self._banded(model.predict(h)["mean"], self._scaled_errors(alias), level))
            for alias, model in self.members_.items()
        }

    def _banded(self, mean: np.ndarray, scaled_errors: np.ndarray, level: Sequence[int]) -> Forecast:
        scale = recent_size(self.y_.to_numpy(), self.season_length)
        return conformal_bands(mean, scaled_errors, level, self.nonnegative_, scale)

    def _mean(self, h: int) -> np.ndarray:
        return sum(w * self.members_[a].predict(h)["mean"] for a, w in self.weights_.items() if w > 0)

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        return self._forecast_origins(y, [len(y)], h)[0]

    def _forecast_origins(self, y: pd.Series, origins: Sequence[int], h: int) -> np.ndarray:
        return sum(w * self.members_[a].forecast_origins(y, origins, h) for a, w in self.weights_.items() if w > 0)

    def params(self) -> dict[str, Any]:
        return {"members": self.members, "horizon": self.horizon, "season_length": self.season_length}


def _figures(actual: np.ndarray, forecast: np.ndarray, scale: float) -> dict[str, float]:
    return {"mase": float(np.mean(np.abs(actual - forecast)) / scale), "smape": smape(actual, forecast)}
