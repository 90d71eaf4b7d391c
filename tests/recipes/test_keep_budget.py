"""Which training budget a run keeps per model (:func:`recipes._train.keep_budget`)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from torch import nn

from ml_attention_mechanisms.recipes._train import TrainedModel, keep_budget
from ml_attention_mechanisms.recipes.config import DemoConfig


def _runs(losses: list[float | None]) -> list[TrainedModel]:
    configs = DemoConfig(budgets=((16384, 10), (2048, 2))).training_budgets()
    return [
        TrainedModel(f"m{i}", "signal_generator_small", nn.Identity(), {}, Path(f"d{i}"), {}, 3, loss, cfg)
        for i, (loss, cfg) in enumerate(zip(losses, configs))
    ]


def test_lowest_validation_loss_is_kept_with_every_budget_recorded() -> None:
    runs = _runs([0.8, 0.7, 0.9])
    kept = keep_budget(runs)
    assert kept is runs[1]
    assert [b["kept"] for b in kept.budgets] == [False, True, False]
    assert [(b["train_windows"], b["max_epochs"]) for b in kept.budgets] == [
        (6144, 4),
        (16384, 10),
        (2048, 2),
    ]
    assert {b["kept_by"] for b in kept.budgets} == {"lowest validation loss"}
    assert all("val_sharpe" not in b for b in kept.budgets)


def test_highest_validation_sharpe_is_kept_whatever_the_losses() -> None:
    runs = _runs([0.7, 0.8, 0.9])
    kept = keep_budget(runs, [0.5, float("nan"), 1.2])
    assert kept is runs[2]
    assert [b["val_sharpe"] for b in kept.budgets][::2] == [0.5, 1.2]
    assert math.isnan(kept.budgets[1]["val_sharpe"])


@pytest.mark.parametrize(
    ("losses", "sharpes", "index"),
    [
        ([0.7, 0.7, 0.9], None, 0),  # a tie goes to the earlier budget
        ([None, float("nan"), 0.9], None, 2),  # no loss recorded: never before a finite one
        ([0.7, 0.8, 0.9], [1.0, 1.0, 0.2], 0),
        ([0.8, 0.7, 0.9], [float("nan")] * 3, 1),  # nothing traded: the lowest loss
    ],
)
def test_ties_and_missing_figures(
    losses: list[float | None], sharpes: list[float] | None, index: int
) -> None:
    runs = _runs(losses)
    assert keep_budget(runs, sharpes) is runs[index]


def test_no_strategy_traded_falls_back_to_the_loss_and_says_so() -> None:
    kept = keep_budget(_runs([0.8, 0.7]), [float("nan")] * 2)
    assert kept.name == "m1"
    assert {b["kept_by"] for b in kept.budgets} == {
        "lowest validation loss (no budget's strategy traded on validation)"
    }


def test_a_single_training_is_kept_as_it_is_and_bad_input_is_named() -> None:
    (run,) = _runs([0.5])
    assert keep_budget([run]) is run and run.budgets == []
    with pytest.raises(ValueError, match="runs: expected at least one"):
        keep_budget([])
    with pytest.raises(ValueError, match="sharpes: 1 figures for 2 trainings"):
        keep_budget(_runs([0.5, 0.6]), [1.0])
