"""Lightning's ``Trainer`` without the lines a user of ``mlattn train``/``tune``/``demo`` cannot act on.

Lightning logs, at INFO level, on every ``Trainer`` and ``fit``: "GPU available: False, used: False",
"TPU available", cloud-service tips ("💡 Tip: ... install litlogger", "... litmodels"), "Loading
`train_dataloader` to estimate number of stepping batches", "`Trainer.fit` stopped: `max_epochs=1` reached".
With torch 2.13 its batch-size probe also triggers torch's ``FutureWarning`` "`isinstance(treespec,
LeafSpec)` is deprecated" from inside Lightning. :class:`QuietTrainer` leaves those out while it is built
and while it fits; Lightning's warnings (``rank_zero_warn``) and the progress bar stay.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._import_guard import needs_extra

with needs_extra("train"):
    import lightning as L

__all__ = ["QuietTrainer", "lightning_quiet"]

# the logger of Lightning's rank_zero_info (its warnings go through the warnings module instead)
_INFO_LOGGER = "lightning.pytorch.utilities.rank_zero"


@contextmanager
def lightning_quiet() -> Iterator[None]:
    """Lightning's INFO lines and the LeafSpec ``FutureWarning`` it triggers, left out inside the block."""
    info = logging.getLogger(_INFO_LOGGER)
    level = info.level
    info.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
                module=r"lightning\.",
            )
            yield
    finally:
        info.setLevel(level)


class QuietTrainer(L.Trainer):
    """``lightning.Trainer`` built and fitted inside :func:`lightning_quiet`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with lightning_quiet():
            super().__init__(*args, **kwargs)

    def fit(self, *args: Any, **kwargs: Any) -> None:
        with lightning_quiet():
            super().fit(*args, **kwargs)
