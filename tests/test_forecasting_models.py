"""The forecaster contract over every registered model (tests/test_forecasting_ensemble.py has
the ensemble's own promises): keys, shapes, ordered bands, non-negative sales, `new()` unfitted,
deterministic fits, and series with gaps, closed weekdays and holidays."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from forecasting import MODELS, AutoArima, Ensemble, Ets, Lstm, NotFitted, SeasonalNaive, WindowAverage, daily
from forecasting.series import closed_steps, recent_size
from tests.forecast_series import shop_series

H = 10
KEYS = {"mean", "lo-80", "hi-80", "lo-95", "hi-95"}


def fast(alias: str):
    """Each registered model as the tests fit it: the LSTM tiny, the ensemble over cheap members."""
    small = {
        Lstm.alias: lambda: Lstm(window=14, units=4, epochs=2),
        Ensemble.alias: lambda: Ensemble([SeasonalNaive(), WindowAverage(), Ets()], horizon=H),
    }
    return small.get(alias, MODELS[alias])()


@pytest.fixture(scope="module")
def fitted() -> dict:
    y = shop_series()
    return {alias: fast(alias).fit(y) for alias in MODELS}


@pytest.mark.parametrize("alias", list(MODELS))
def test_predict_gives_every_band_in_order(alias, fitted):
    forecast = fitted[alias].predict(H)
    assert set(forecast) == KEYS
    for values in forecast.values():
        assert values.shape == (H,) and np.all(np.isfinite(values))
    assert np.all(forecast["lo-95"] <= forecast["lo-80"])
    assert np.all(forecast["lo-80"] <= forecast["mean"])
    assert np.all(forecast["mean"] <= forecast["hi-80"])
    assert np.all(forecast["hi-80"] <= forecast["hi-95"])
    open_days = ~closed_steps(shop_series().to_numpy(), H)  # Saturdays are closed: 0, no band
    assert np.all(forecast["hi-95"][open_days] > forecast["lo-95"][open_days])  # a band, not a line
    assert forecast["lo-95"].min() >= 0  # sales never go negative


@pytest.mark.parametrize("alias", list(MODELS))
def test_level_argument_names_the_bands(alias, fitted):
    forecast = fitted[alias].predict(3, level=(50,))
    assert set(forecast) == {"mean", "lo-50", "hi-50"}


@pytest.mark.parametrize("alias", list(MODELS))
def test_new_is_an_unfitted_twin(alias, fitted):
    model = fitted[alias]
    twin = model.new()
    assert type(twin) is type(model) and twin.alias == alias
    assert repr(twin) == repr(model)
    assert not [name for name in vars(twin) if name.endswith("_")]
    with pytest.raises(NotFitted):
        twin.predict(H)


@pytest.mark.parametrize("alias", list(MODELS))
def test_two_fits_give_the_same_forecast(alias, fitted):
    again = fitted[alias].new().fit(shop_series())
    for key, values in fitted[alias].predict(H).items():
        np.testing.assert_allclose(again.predict(H)[key], values, rtol=1e-6, err_msg=key)


@pytest.mark.parametrize("alias", list(MODELS))
def test_gaps_closed_weekdays_and_holidays_break_no_model(alias):
    """Rows missing for whole days (the shop exported only trading days) and a closure at the
    end: every model still fits and forecasts finite, non-negative days."""
    y = shop_series(days=120, seed=3)
    sparse = y[y > 0]  # no rows at all for Saturdays and the closure
    sparse = pd.concat([sparse, pd.Series([50.0], index=[sparse.index[-1] + pd.Timedelta(days=12)])])
    forecast = fast(alias).fit(sparse).predict(H)
    assert all(np.all(np.isfinite(v)) and v.min() >= 0 for v in forecast.values())


@pytest.mark.parametrize("alias", list(MODELS))
def test_a_weekday_the_shop_never_trades_is_forecast_as_zero(alias, fitted):
    y = shop_series()
    saturdays = pd.date_range(y.index[-1] + pd.Timedelta(days=1), periods=H).day_of_week == 5
    for key, values in fitted[alias].predict(H).items():
        assert np.all(values[saturdays] == 0), key


def test_closed_steps_and_recent_size():
    week = np.array([5.0, 5.0, 5.0, 5.0, 5.0, 0.0, 3.0])
    values = np.tile(week, 5)  # ends on the Sunday of a Monday-based week
    np.testing.assert_array_equal(closed_steps(values, 9), [0, 0, 0, 0, 0, 1, 0, 0, 0])
    values[-2 - 14] = 1.0  # one Saturday three weeks ago traded: not a closed weekday
    assert not closed_steps(values, 9).any()
    assert not closed_steps(np.zeros(35), 9).any()  # closed altogether is not a closed weekday
    assert recent_size(np.tile(week, 5)) == pytest.approx(28.0 / 7)
    assert recent_size(np.r_[np.full(10, 2.0), np.zeros(28)]) == pytest.approx(20.0 / 38)
    assert recent_size(np.zeros(5)) == 1.0


def test_seasonal_naive_repeats_last_week():
    y = shop_series(days=30)
    np.testing.assert_array_equal(SeasonalNaive().fit(y).predict(9)["mean"], np.resize(y.to_numpy()[-7:], 9))


def test_daily_fills_missing_days_with_zero_and_sums_duplicates():
    stamps = ["2024-01-01", "2024-01-01 15:00", "2024-01-04", "2024-01-05"]
    y = pd.Series([1.0, 2.0, 3.0, 4.0], index=pd.DatetimeIndex([pd.Timestamp(s) for s in stamps]))
    out = daily(y)
    assert list(out.index) == list(pd.date_range("2024-01-01", "2024-01-05"))
    assert out.tolist() == [3.0, 0.0, 0.0, 3.0, 4.0]
    with pytest.raises(TypeError):
        daily(pd.Series([1.0, 2.0]))


def test_auto_arima_reuses_its_searched_order():
    y = shop_series(days=120, closure=False)
    searched = AutoArima().fit(y.iloc[:100])
    assert searched.searched_
    refit = searched.reuse().fit(y)
    assert not refit.searched_
    assert (refit.order_, refit.seasonal_order_) == (searched.order_, searched.seasonal_order_)


def test_lstm_saves_and_loads_as_keras(tmp_path):
    y = shop_series(days=80)
    model = Lstm(window=14, units=4, epochs=2).fit(y)
    path = model.save(tmp_path / "model.keras")
    loaded = Lstm.load(path, y)
    np.testing.assert_allclose(loaded.predict(H)["mean"], model.predict(H)["mean"], rtol=1e-6)


def test_importing_forecasting_loads_no_heavy_library():
    heavy = {"tensorflow", "keras", "pmdarima", "statsmodels"}
    code = f"import sys, forecasting; print(sorted({{m.partition('.')[0] for m in sys.modules}} & {heavy!r}))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("alias", list(MODELS))
def test_backtest_forecasts_match_forecasts_after_each_prefix(alias, fitted):
    """forecast_origins (one pass for many origins) equals forecasting after each prefix one by
    one with the same fitted parameters, closed weekdays zeroed alike."""
    y = shop_series()
    model = fitted[alias]
    origins = [len(y) - 30, len(y) - 17, len(y) - 5]
    batch = model.forecast_origins(y, origins, H)
    for row, origin in enumerate(origins):
        one = np.array(model._forecast_after(y.iloc[:origin], H), dtype=float)
        one[closed_steps(y.to_numpy()[:origin], H)] = 0.0
        np.testing.assert_allclose(batch[row], np.maximum(one, 0.0), rtol=1e-6, atol=1e-9)


def test_lstm_refit_starts_from_the_fitted_weights():
    y = shop_series(days=80)
    model = Lstm(window=14, units=4, epochs=3).fit(y.iloc[:70])
    twin = model.reuse()
    assert not hasattr(twin, "network_")
    assert all(np.array_equal(a, b) for a, b in zip(twin._warm_start, model.network_.get_weights(), strict=True))
    first, second = model.reuse().fit(y).predict(H), twin.fit(y).predict(H)
    np.testing.assert_allclose(first["mean"], second["mean"], rtol=1e-6)
