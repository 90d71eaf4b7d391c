"""The non-attention learner's inputs read bars up to the decision time only."""

from __future__ import annotations

import numpy as np

from ml_attention_mechanisms.recipes._learner import learner_inputs


def test_learner_inputs_are_causal() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    mask = np.ones(200, dtype=bool)
    base = learner_inputs(x, mask)
    y = x.copy()
    y[121:] = rng.normal(size=(79, 3))
    moved = learner_inputs(y, mask)
    np.testing.assert_array_equal(base[:121], moved[:121])
    np.testing.assert_allclose(base[120, 3:6], x[97:121].mean(0), rtol=1e-6)  # mean of the last 24 bars
    np.testing.assert_array_equal(base[120, 6:], x[96])  # the bar 24 before
