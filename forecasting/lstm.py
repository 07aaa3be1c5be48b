"""Lstm: a small Keras LSTM (TensorFlow CPU), imported only when a model is fitted or loaded, so
`import forecasting` stays cheap and the web never loads TensorFlow.

Each input window is divided by its own mean size (a level-free shape, so a growing shop or a
new channel needs no global scaler), the weekday of the day to predict goes in beside the
sequence (days a shop never trades are learned as zeros), and forecasts beyond one day feed back
their own predictions. Seeds and TensorFlow's deterministic ops make two fits on the same data
give the same forecast."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecasting.base import Forecaster
from forecasting.series import SEASON, daily


class Lstm(Forecaster):
    """One LSTM layer over the last `window` days, trained on the last `max_train` days; small
    and few epochs on purpose: on one short sales series a bigger network only fits noise, and
    the ensemble weighs it by its backtest."""

    alias = "lstm"

    def __init__(
        self,
        window: int = 28,
        units: int = 16,
        epochs: int = 30,
        batch_size: int = 32,
        max_train: int = 365,
        seed: int = 0,
        season_length: int = SEASON,
    ) -> None:
        super().__init__(season_length)
        self.window = window
        self.units = units
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_train = max_train
        self.seed = seed
        self._warm_start: list[np.ndarray] | None = None

    def _fit(self, y: pd.Series) -> None:
        values = y.to_numpy()[-self.max_train :]
        samples = len(values) - self.window
        if samples < 2 * self.season_length:
            raise ValueError(f"LSTM needs at least {self.window + 2 * self.season_length} days, got {len(values)}")
        keras = _keras(self.seed)
        windows = np.lib.stride_tricks.sliding_window_view(values[:-1], self.window)
        targets = values[self.window :]
        weekdays = y.index[-len(values) :].day_of_week.to_numpy()[self.window :]
        scale = _scale(windows)
        network = _build(keras, self.window, self.units)
        epochs = self.epochs
        if self._warm_start is not None:
            network.set_weights(self._warm_start)
            epochs = max(1, self.epochs // 3)
        network.fit(
            [(windows / scale[:, None])[..., None], _one_hot(weekdays)],
            targets / scale,
            epochs=epochs,
            batch_size=self.batch_size,
            shuffle=True,
            verbose=0,
        )
        self.network_ = network

    def reuse(self) -> Lstm:
        """An unfitted Lstm that starts from this fit's weights and trains a third of the epochs:
        a refit on a few more days need not learn the weekly shape again (and costs a third)."""
        twin = self.new()
        twin._warm_start = self.network_.get_weights()
        return twin

    def _forecast_after(self, y: pd.Series, h: int) -> np.ndarray:
        return self._forecast_origins(y, [len(y)], h)[0]

    def _forecast_origins(self, y: pd.Series, origins: Sequence[int], h: int) -> np.ndarray:
        """All origins in one batch per step (the recursion is h network calls, not h x origins)."""
        values = y.to_numpy()
        padded = np.concatenate([np.zeros(self.window), values])  # an origin nearer the start sees zeros
        history = np.vstack([padded[o : o + self.window] for o in origins])
        next_weekday = np.array([(y.index[o - 1].day_of_week + 1) % 7 for o in origins])
        out = np.empty((len(origins), h))
        for step in range(h):
            scale = _scale(history)
            inputs = [(history / scale[:, None])[..., None], _one_hot((next_weekday + step) % 7)]
            prediction = np.asarray(self.network_.predict_on_batch(inputs))[:, 0] * scale
            if self.nonnegative_:
                prediction = np.maximum(prediction, 0.0)
            out[:, step] = prediction
            history = np.concatenate([history[:, 1:], prediction[:, None]], axis=1)
        return out

    def save(self, path: str | Path) -> Path:
        """Save the fitted network as a `.keras` file."""
        self._check_fitted()
        path = Path(path)
        if path.suffix != ".keras":
            raise ValueError("an Lstm is saved as a .keras file")
        self.network_.save(path)
        return path

    @classmethod
    def load(cls, path: str | Path, y: pd.Series) -> Lstm:
        """A fitted Lstm from a `.keras` file, forecasting after `y` (the history it continues)."""
        keras = _keras(0)
        network = keras.models.load_model(Path(path))
        model = cls(window=int(network.inputs[0].shape[1]))
        model.network_ = network
        model.y_ = daily(y)
        model.nonnegative_ = bool((model.y_ >= 0).all())
        return model


def _keras(seed: int) -> Any:
    """Keras on TensorFlow, imported here only; seeded and deterministic."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    try:  # only possible before TensorFlow's runtime starts; later fits keep what the first set
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(1)
    except RuntimeError:
        pass
    tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(seed)
    return keras


def _build(keras: Any, window: int, units: int) -> Any:
    sequence = keras.Input((window, 1))
    weekday = keras.Input((SEASON,))
    hidden = keras.layers.LSTM(units)(sequence)
    hidden = keras.layers.Concatenate()([hidden, weekday])
    hidden = keras.layers.Dense(units, activation="relu")(hidden)
    network = keras.Model([sequence, weekday], keras.layers.Dense(1)(hidden))
    network.compile(optimizer=keras.optimizers.Adam(learning_rate=0.005), loss="mae")
    return network


def _scale(windows: np.ndarray) -> np.ndarray:
    """Each window's mean absolute value; 1 for an all-zero window (a closed fortnight)."""
    scale = np.mean(np.abs(windows), axis=1)
    return np.where(scale > 0, scale, 1.0)


def _one_hot(weekdays: np.ndarray) -> np.ndarray:
    return np.eye(SEASON)[np.asarray(weekdays, dtype=int)]
