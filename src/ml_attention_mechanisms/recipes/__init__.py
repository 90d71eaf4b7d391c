"""The application: the runs behind ``mlattn demo``, ``evaluate``, ``predict`` and ``backtest``.

A recipe trains the models or loads a run's checkpoints, calls the libraries below it (data, training,
evaluation) and writes a run directory; it reads top to bottom, each step a function with typed inputs and
outputs. Nothing below this package imports it (``tests/test_layers.py``).

- :func:`run_demo` (``demo.py``): train the four small models, calibrate on validation, score on test.
- :func:`evaluate_run` (``evaluate.py``): a run's models scored on other data.
- :func:`predict_run`, :func:`prediction_table` (``predict.py``): a run's forecasts for every bar.
- :func:`backtest_signals`, :func:`backtest_run` (``backtest.py``): the backtest alone, after fees.
"""

from ._models import RunModel, load_run_models
from ._outputs import RunOutputs
from .backtest import BacktestSummary, backtest_run, backtest_signals, backtest_table, read_table
from .config import DEMO_MODELS, DemoConfig
from .demo import run_demo
from .evaluate import evaluate_run
from .predict import predict_run, prediction_table

__all__ = [
    "DEMO_MODELS",
    "BacktestSummary",
    "DemoConfig",
    "RunModel",
    "RunOutputs",
    "backtest_run",
    "backtest_signals",
    "backtest_table",
    "evaluate_run",
    "load_run_models",
    "predict_run",
    "prediction_table",
    "read_table",
    "run_demo",
]
