"""WindowDataModule: reproducible per-epoch order, the same windows for one or many processes; PreparedData checks."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import torch
from tiny_parts import SyntheticWindows, tiny_prepared

from ml_attention_mechanisms.training.datamodule import PreparedData, WindowDataModule


def _batches(data: PreparedData, *, batch_size: int, world: int, rank: int, epoch: int) -> list[torch.Tensor]:
    dm = WindowDataModule(data, batch_size=batch_size, seed=3)
    dm.trainer = SimpleNamespace(world_size=world, global_rank=rank)  # type: ignore[assignment]
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]  # what Lightning calls at each epoch start
    return [b["price_data"] for b in loader]


def test_two_ranks_see_the_windows_of_one_process_step_by_step() -> None:
    data = tiny_prepared(n_train=64)
    one = _batches(data, batch_size=16, world=1, rank=0, epoch=2)
    r0 = _batches(data, batch_size=8, world=2, rank=0, epoch=2)
    r1 = _batches(data, batch_size=8, world=2, rank=1, epoch=2)
    assert len(one) == len(r0) == len(r1) == 4
    for step, full in enumerate(one):
        union = torch.cat([r0[step], r1[step]])
        key = lambda t: sorted(t.sum(dim=(1, 2)).tolist())  # noqa: E731 - one scalar per window
        assert key(union) == key(full)


def test_order_depends_only_on_seed_and_epoch() -> None:
    data = tiny_prepared(n_train=64)
    a = _batches(data, batch_size=16, world=1, rank=0, epoch=1)
    b = _batches(data, batch_size=16, world=1, rank=0, epoch=1)
    c = _batches(data, batch_size=16, world=1, rank=0, epoch=2)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))


def test_validation_is_in_order_and_test_may_be_absent() -> None:
    data = tiny_prepared()
    dm = WindowDataModule(data, batch_size=32)
    first = next(iter(dm.val_dataloader()))["price_data"]
    torch.testing.assert_close(first, torch.stack([data.val[i]["price_data"] for i in range(32)]))
    data.test = None
    with pytest.raises(RuntimeError, match="without a test split"):
        WindowDataModule(data, batch_size=8).test_dataloader()


class _Empty(torch.utils.data.Dataset[Any]):
    def __len__(self) -> int:
        return 0

    def __getitem__(self, i: int) -> Any:
        raise IndexError(i)


def test_empty_splits_are_named() -> None:
    with pytest.raises(ValueError, match=r"the training split is empty \(demo\)"):
        PreparedData(
            train=_Empty(), val=SyntheticWindows(4), test=None, feature_names=["a"], description="demo"
        )
    with pytest.raises(ValueError, match="the validation split is empty"):
        PreparedData(train=SyntheticWindows(4), val=_Empty(), test=None, feature_names=["a"])
    with pytest.raises(ValueError, match="no feature columns"):
        PreparedData(train=SyntheticWindows(4), val=SyntheticWindows(4), test=None, feature_names=[])
