"""The application: the runs behind ``mlattn demo``, ``evaluate``, ``predict`` and ``backtest``.

A recipe trains the models or loads a run's checkpoints, calls the libraries below it (data, training,
evaluation) and writes a run directory. Nothing below this package imports it.
"""

from .backtest import backtest_table, read_table
from .demo import (
    DEMO_MODELS,
    DemoConfig,
    RunOutputs,
    evaluate_run,
    load_run_models,
    predict_run,
    prediction_table,
    run_demo,
)

__all__ = [
    "DEMO_MODELS",
    "DemoConfig",
    "RunOutputs",
    "backtest_table",
    "evaluate_run",
    "load_run_models",
    "predict_run",
    "prediction_table",
    "read_table",
    "run_demo",
]
