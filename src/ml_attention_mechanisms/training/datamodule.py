"""The LightningDataModule over the data layer's window Datasets and walk-forward split.

:class:`PreparedData` is what training needs from the data: the train / validation (/ test) window Datasets
and the facts a checkpoint keeps (feature names, fitted statistics, the symbol map, the files read).
:class:`WindowDataModule` serves them to Lightning with samplers that make a run reproducible and
resumable: the training order of epoch ``e`` is a permutation drawn from ``seed + e`` (torch's
``DistributedSampler`` with one replica for a single process), so an epoch redone after a resume sees the
same batches, and a DDP run with ``N`` processes of batch ``b`` sees, step by step, the same windows as one
process with batch ``N * b``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .._import_guard import needs_extra

with needs_extra("train"):
    import lightning as L

__all__ = ["PreparedData", "WindowDataModule"]


@dataclass
class PreparedData:
    """The data of one run, split by time.

    Args:
        train: training windows (a ``Dataset`` of batch dicts; see the model contract for the keys).
        val: validation windows (early stopping, model selection, tuning).
        test: test windows, or ``None`` when the caller must not see them (tuning never builds them).
        feature_names: the feature columns, in order (``input_features = len(feature_names)``).
        data_kind: ``"single_asset"`` or ``"multi_asset"``.
        symbols: ``{symbol: asset id}`` (0 is reserved for an unknown asset).
        scaler: statistics fitted on the training part, as plain data. Default: {}.
        files: data files read, for the run record (their sha256 is stored). Default: [].
        bar_seconds: the bar interval in seconds, when known. Default: None.
        description: how the data were given (``"binance-1h"``, file names). Default: "".
    """

    train: Dataset[Any]
    val: Dataset[Any]
    test: Dataset[Any] | None
    feature_names: list[str]
    data_kind: str = "single_asset"
    symbols: dict[str, int] = field(default_factory=dict)
    scaler: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    bar_seconds: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        for name in ("train", "val"):
            ds = getattr(self, name)
            try:
                size = len(ds)
            except TypeError as exc:
                raise ValueError(f"PreparedData.{name}: must be a sized Dataset") from exc
            if size == 0:
                label = "training" if name == "train" else "validation"
                raise ValueError(
                    f"the {label} split is empty ({self.description or 'data'}): no complete window fits in it; "
                    "use more data, a shorter window, or move the split dates"
                )
        if not self.feature_names:
            raise ValueError("PreparedData.feature_names: the data has no feature columns")


class WindowDataModule(L.LightningDataModule):
    """Lightning's view of :class:`PreparedData`.

    Args:
        data: the prepared splits.
        batch_size: windows per step and process.
        num_workers: DataLoader workers. Default: 0.
        seed: seeds the per-epoch shuffling. Default: 0.
    """

    def __init__(self, data: PreparedData, *, batch_size: int, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def _replicas(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(trainer.world_size), int(trainer.global_rank)

    def _loader(self, dataset: Dataset[Any], *, shuffle: bool) -> DataLoader[Any]:
        world, rank = self._replicas()
        # Explicit samplers (Trainer(use_distributed_sampler=False)): the same permutation rule for one or
        # many processes, and Lightning calls set_epoch on it at every epoch start.
        sampler: DistributedSampler[Any] = DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed
        )
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            generator=torch.Generator().manual_seed(self.seed),  # worker seeds drawn off the global stream
        )

    def train_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.data.train, shuffle=True)

    def val_dataloader(self) -> DataLoader[Any]:
        return self._loader(self.data.val, shuffle=False)

    def test_dataloader(self) -> DataLoader[Any]:
        if self.data.test is None:
            raise RuntimeError("this run was prepared without a test split")
        return self._loader(self.data.test, shuffle=False)
