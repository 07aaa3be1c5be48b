"""The ensemble's promises: a broken member (raising, non-finite, or predicting garbage) is
dropped or weighed out and the ensemble stays no worse than seasonal-naive; it falls back to the
best member and says so; its bands come from backtest errors; and `train.fit_series` returns
plain data a job can store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from forecasting import AutoArima, Ensemble, Ets, Forecaster, SeasonalNaive, WindowAverage
from forecasting.backtest import calibration_origins, conformal_width
from forecasting.metrics import mase
from forecasting.series import closed_steps, recent_size
from forecasting.train import fit_series
from tests.forecast_series import shop_series

H = 14


class Raises(Forecaster):
    alias = "raises"

    def _fit(self, y: pd.Series) -> None:
        raise RuntimeError("broken on purpose")


class NotFinite(Forecaster):
    alias = "not_finite"

    def _fit(self, y: pd.Series) -> None:
        pass

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        return np.full(h, np.nan)


class Garbage(Forecaster):
    """Fits and forecasts fine, but its numbers are noise ten times the series' size."""

    alias = "garbage"

    def _fit(self, y: pd.Series) -> None:
        self.size_ = float(y.abs().mean())

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        rng = np.random.default_rng(len(y))
        return rng.uniform(0, 10 * self.size_, h)


def holdout_mase(model: Forecaster, y: pd.Series) -> float:
    train, actual = y.iloc[:-H], y.iloc[-H:].to_numpy()
    return mase(actual, model.fit(train).predict(H)["mean"], train.to_numpy())


@pytest.mark.parametrize("broken", [Raises, NotFinite, Garbage])
def test_a_broken_member_never_makes_the_ensemble_worse_than_the_baseline(broken):
    y = shop_series(days=200, seed=1)
    ensemble = Ensemble([SeasonalNaive(), WindowAverage(), Ets(), broken()], horizon=H).fit(y.iloc[:-H])
    assert ensemble.backtest_["ensemble"]["mase"] <= ensemble.backtest_["seasonal_naive"]["mase"]
    assert ensemble.weights_.get(broken.alias, 0.0) == 0.0
    if broken is Garbage:
        assert ensemble.backtest_["garbage"]["mase"] > ensemble.backtest_["seasonal_naive"]["mase"]
    else:
        assert broken.alias in ensemble.dropped_ and broken.alias not in ensemble.members_
    assert holdout_mase(ensemble.new(), y) <= holdout_mase(SeasonalNaive(), y)


def test_falls_back_to_the_best_member_and_says_why():
    y = shop_series(days=150, seed=2)
    ensemble = Ensemble([SeasonalNaive(), Garbage(), Raises()], horizon=H).fit(y)
    assert ensemble.chosen_ == "seasonal_naive"
    assert "seasonal_naive" in ensemble.fallback_reason_
    assert ensemble.weights_ == {"seasonal_naive": 1.0, "garbage": 0.0}
    np.testing.assert_allclose(ensemble.predict(H)["mean"], SeasonalNaive().fit(y).predict(H)["mean"])


def test_weights_follow_backtest_error():
    y = shop_series(days=200, seed=4)
    ensemble = Ensemble([SeasonalNaive(), WindowAverage(), Ets()], horizon=H).fit(y)
    weights = {a: w for a, w in ensemble.weights_.items() if w > 0}
    assert ensemble.chosen_ == "ensemble" and len(weights) >= 2
    assert sum(ensemble.weights_.values()) == pytest.approx(1.0)
    ranked = sorted(weights, key=lambda a: ensemble.backtest_[a]["mase"])
    assert [weights[a] for a in ranked] == sorted(weights.values(), reverse=True)


def test_a_series_too_short_to_backtest_gets_the_baseline():
    y = shop_series(days=30, closure=False)
    ensemble = Ensemble([SeasonalNaive(), Ets()], horizon=H).fit(y)
    assert ensemble.chosen_ == "seasonal_naive" and "too few" in ensemble.fallback_reason_
    assert set(ensemble.predict(H)) == {"mean", "lo-80", "hi-80", "lo-95", "hi-95"}


def test_conformal_width_is_the_finite_sample_quantile_per_step():
    errors = np.column_stack([np.arange(1.0, 101.0), 2 * np.arange(1.0, 101.0)])
    np.testing.assert_array_equal(conformal_width(errors, 80), [81.0, 162.0])  # ceil(101 * 0.8) = 81st
    np.testing.assert_array_equal(conformal_width(errors[:10], 95), [10.0, 20.0])  # too few: the largest


def test_bands_come_from_the_backtest_errors_not_the_members():
    y = shop_series(days=200, seed=5)
    ensemble = Ensemble([SeasonalNaive(), WindowAverage()], horizon=H).fit(y)
    forecast = ensemble.predict(H + 5, level=(80,))
    width = conformal_width(ensemble.abs_errors_, 80) * recent_size(y.to_numpy())
    upper = np.resize(width, H + 5)
    upper[H:] = width[-1]  # beyond the backtest: its last step's width
    upper[closed_steps(y.to_numpy(), H + 5)] = 0.0  # Saturdays: closed, no band
    np.testing.assert_allclose(forecast["hi-80"] - forecast["mean"], upper)
    assert ensemble.abs_errors_.shape == (len(calibration_origins(len(y), H)), H)


def test_each_member_forecast_has_bands_from_its_own_backtest_errors():
    y = shop_series(days=200, seed=5)
    ensemble = Ensemble([SeasonalNaive(), WindowAverage(), Raises()], horizon=H).fit(y)
    forecasts = ensemble.member_forecasts(H, level=(80,))
    assert set(forecasts) == {"seasonal_naive", "window_average"}  # the dropped member has none
    closed = closed_steps(y.to_numpy(), H)
    for alias, forecast in forecasts.items():
        np.testing.assert_allclose(forecast["mean"], ensemble.members_[alias].predict(H)["mean"])
        errors = np.abs(ensemble.actual_ - ensemble.backtest_forecasts_[alias]) / ensemble.sizes_[:, None]
        width = np.where(closed, 0.0, conformal_width(errors, 80) * recent_size(y.to_numpy()))
        np.testing.assert_allclose(forecast["hi-80"] - forecast["mean"], width)
    naive, average = (forecasts[a]["hi-80"] - forecasts[a]["mean"] for a in ("seasonal_naive", "window_average"))
    assert not np.allclose(naive, average)  # each member's own errors, not one shared band


def test_fit_series_returns_storable_plain_data():
    y = shop_series(days=220, seed=6, closure=False)
    members = [SeasonalNaive(), WindowAverage(), Ets(), AutoArima()]
    result = fit_series(y, horizon=30, members=members)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["model"] in {"ensemble", "seasonal_naive", "window_average", "ets", "auto_arima"}
    assert [m["alias"] for m in data["members"]] == ["seasonal_naive", "window_average", "ets", "auto_arima"]
    assert sum(m["weight"] for m in data["members"]) == pytest.approx(1.0)
    assert all(m["fit_s"] >= 0 and m["mase"] > 0 for m in data["members"])
    assert set(data["backtest"]) == set(data["baseline_backtest"]) == {"7", "14", "30"}
    assert data["backtest"]["30"]["mase"] <= data["baseline_backtest"]["30"]["mase"]
    assert set(data["coverage"]) == {"80", "95"}
    assert data["arima"]["searched"] is True and len(data["arima"]["order"]) == 3
    assert len(data["forecast"]) == 30 and data["forecast"][0]["date"] == "2024-08-08"
    assert set(data["member_forecasts"]) == {m["alias"] for m in data["members"]}
    assert all(len(days) == 30 for days in data["member_forecasts"].values())
    if data["model"] != "ensemble":  # a fallback's forecast is its member's
        assert data["member_forecasts"][data["model"]] == data["forecast"]
    assert all(set(m["backtest"]) == {"7", "14", "30"} for m in data["members"])
    assert data["train_end"] == "2024-08-07" and data["days"] == 220
    order = (tuple(data["arima"]["order"]), tuple(data["arima"]["seasonal_order"]))
    again = fit_series(y, horizon=30, members=members, arima_order=order)
    assert again.arima == {**data["arima"], "searched": False}


def test_reuse_keeps_the_searched_arima_order():
    y = shop_series(days=160, seed=8, closure=False)
    ensemble = Ensemble([SeasonalNaive(), AutoArima()], horizon=H).fit(y)
    arima = ensemble.members_["auto_arima"]
    again = ensemble.reuse()
    assert not hasattr(again, "members_")
    spec = next(m for m in again.members if m.alias == "auto_arima")
    assert (spec.order, spec.seasonal_order) == (arima.order_, arima.seasonal_order_)
    refit = again.fit(y).members_["auto_arima"]
    assert not refit.searched_ and refit.order_ == arima.order_
