"""Optional extras: pyproject and the import guard agree, every optional import is guarded, and using a
feature whose extra is missing raises an ImportError naming the extra to install (one case per extra).

A missing package is simulated with ``sys.modules[name] = None`` (for the package and every submodule
already imported), which makes ``import name`` raise ``ModuleNotFoundError`` as if it were not installed.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from ml_attention_mechanisms._import_guard import (
    EXTRAS,
    MissingExtraError,
    distribution,
    extra_of,
    has_module,
    install_command,
    needs_extra,
    require_extras,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the test extra installs tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ml_attention_mechanisms"
CORE = {"torch", "numpy"}
BY_HAND = {"flash_attn"}  # CUDA-only, built by hand (docs/gpu.md); used when importable


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]  # type: ignore[no-any-return]


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``hide("pandas", ...)``: those packages (and their loaded submodules) look not installed."""

    def _hide(*names: str) -> None:
        for key in [k for k in sys.modules if k.partition(".")[0] in names] + list(names):
            monkeypatch.setitem(sys.modules, key, None)

    return _hide


# --- the two lists of extras agree ----------------------------------------------------------------------


def test_core_is_torch_and_numpy(pyproject: dict) -> None:
    assert {_name(r) for r in pyproject["dependencies"]} == CORE


def test_pyproject_extras_match_the_guard(pyproject: dict) -> None:
    extras = pyproject["optional-dependencies"]
    for name, extra in EXTRAS.items():
        assert {_name(r) for r in extras[name]} == {distribution(m) for m in extra.modules}, name
    assert extras["all"] == [f"ml-attention-mechanisms[{','.join(EXTRAS)}]"]
    assert "ml-attention-mechanisms[all,test]" in extras["dev"]  # dev runs the whole suite


def test_install_command_and_extra_of() -> None:
    assert install_command("data", "eval") == 'pip install "ml-attention-mechanisms[data,eval]"'
    assert extra_of("sklearn.ensemble") == "eval" and extra_of("yaml") == "train"
    assert extra_of("torch") is None and extra_of("ml_attention_mechanisms.data") is None


# --- every import of an optional package is guarded -----------------------------------------------------


def _guard_extra(node: ast.With) -> str | None:
    for item in node.items:
        call = item.context_expr
        if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "needs_extra":
            return str(ast.literal_eval(call.args[0]))
    return None


def _imports(tree: ast.AST) -> Iterator[tuple[ast.stmt, str, str | None, bool]]:
    """(import node, top-level package, enclosing needs_extra's extra, at module level) of every import."""

    def walk(node: ast.AST, guard: str | None, top: bool) -> Iterator[tuple[ast.stmt, str, str | None, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                yield from walk(ast.Module(body=child.orelse, type_ignores=[]), guard, top)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child, alias.name.partition(".")[0], guard, top
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                yield child, child.module.partition(".")[0], guard, top
            inner = _guard_extra(child) if isinstance(child, ast.With) else None
            nested = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
            yield from walk(child, inner or guard, top and not nested)

    yield from walk(tree, None, True)


def test_every_optional_import_is_guarded_by_its_extra() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        found = list(_imports(ast.parse(path.read_text(encoding="utf-8"))))
        guarded_at_top = {pkg for _, pkg, guard, top in found if top and guard == extra_of(pkg)}
        for node, pkg, guard, _top in found:
            where = f"{path.relative_to(ROOT)}:{node.lineno} imports {pkg}"
            if pkg in sys.stdlib_module_names or pkg == "ml_attention_mechanisms" or pkg in CORE | BY_HAND:
                continue
            extra = extra_of(pkg)
            if extra is None:
                bad.append(f"{where}: in no extra (add it to pyproject.toml and _import_guard.EXTRAS)")
            elif guard != extra and pkg not in guarded_at_top:
                bad.append(f'{where}: not inside `with needs_extra("{extra}"):`')
    assert not bad, "\n".join(bad)


def test_the_scan_sees_guards_and_type_checking_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pandas\n"
        "def f():\n    with needs_extra('data'):\n        import pandas as pd\n    import scipy\n"
    )
    assert [(pkg, guard, top) for _, pkg, guard, top in _imports(tree)] == [
        ("typing", None, True),
        ("pandas", "data", False),
        ("scipy", None, False),
    ]


# --- a missing extra: an ImportError naming it, where the package is imported (one case per extra) -----


def _bars_csv(path: Path) -> Path:
    t = 1_600_000_000 // 3600 * 3600 + 3600 * np.arange(30)
    rows = [f"{s},100,101,99,100.5,10" for s in t]
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


# Each case prepares its input with every package installed, and returns the use of the feature that runs
# once the package is hidden.
Use = Callable[[], object]


def _load_csv(tmp_path: Path) -> Use:
    from ml_attention_mechanisms.data import load_ohlcv

    path = _bars_csv(tmp_path / "BTCUSDT_1h.csv")
    return lambda: load_ohlcv(path)


def _load_parquet(tmp_path: Path) -> Use:
    import pandas as pd

    from ml_attention_mechanisms.data import load_ohlcv

    path = tmp_path / "BTCUSDT_1h.parquet"
    pd.read_csv(_bars_csv(tmp_path / "x.csv")).to_parquet(path)
    return lambda: load_ohlcv(path)


def _run_config(tmp_path: Path) -> Use:
    from ml_attention_mechanisms.training.config import load_run_config

    (tmp_path / "run.yaml").write_text("training: {max_epochs: 1}\n", encoding="utf-8")
    return lambda: load_run_config(tmp_path / "run.yaml")


def _tune(tmp_path: Path) -> Use:
    from ml_attention_mechanisms.training.tune import tune

    path = str(_bars_csv(tmp_path / "BTCUSDT_1h.csv"))
    return lambda: tune("price_predictor_small", path, trials=1, out=tmp_path / "tune")


def _diebold_mariano(tmp_path: Path) -> Use:
    from ml_attention_mechanisms.evaluation.significance import diebold_mariano

    rng = np.random.default_rng(0)
    return lambda: diebold_mariano(rng.normal(size=50), rng.normal(size=50))


def _garch(tmp_path: Path) -> Use:
    from ml_attention_mechanisms.evaluation.baselines import garch_forecast

    returns = np.random.default_rng(0).normal(0, 0.01, 300)
    return lambda: garch_forecast(returns, horizon=24, min_train=200, refit_every=100)


def _onnx(tmp_path: Path) -> Use:
    from ml_attention_mechanisms.inference.export import export_onnx

    return lambda: export_onnx(torch.nn.Linear(2, 2), tmp_path / "m.onnx")  # refused before any export work


def _heatmap_config(tmp_path: Path) -> Use:
    from ml_attention_mechanisms import VisualizationConfig

    return lambda: VisualizationConfig()


CASES = [  # (extra, the package hidden, the feature used)
    ("data", "pandas", _load_csv),
    ("data", "pyarrow", _load_parquet),
    ("train", "yaml", _run_config),
    ("train", "optuna", _tune),
    ("eval", "scipy", _diebold_mariano),
    ("eval", "arch", _garch),
    ("export", "onnxscript", _onnx),
    ("viz", "matplotlib", _heatmap_config),
]


def test_every_extra_has_a_case() -> None:
    assert {extra for extra, _, _ in CASES} == set(EXTRAS)


@pytest.mark.parametrize(("extra", "package", "prepare"), CASES, ids=[f"{e}-{p}" for e, p, _ in CASES])
def test_a_missing_package_names_its_extra(
    extra: str, package: str, prepare: Callable[[Path], Use], hide: Callable[..., None], tmp_path: Path
) -> None:
    use = prepare(tmp_path)
    hide(package)
    with pytest.raises(ImportError) as info:
        use()
    assert isinstance(info.value, MissingExtraError), info.value
    assert info.value.extras == (extra,) and info.value.missing == (package,)
    assert distribution(package) in str(info.value)
    assert str(info.value).endswith(f'pip install "ml-attention-mechanisms[{extra}]"'), info.value


def test_lightning_missing_names_the_train_extra() -> None:
    # Lightning is imported at module level by the training layer: a fresh interpreter that lacks it
    code = (
        "import sys; sys.modules['lightning'] = None\n"
        "import ml_attention_mechanisms as m\n"
        "from ml_attention_mechanisms._import_guard import MissingExtraError\n"
        "try:\n    m.train\nexcept MissingExtraError as exc:\n    print(exc.extras, exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("('train',) lightning is not installed"), out
    assert out.strip().endswith('pip install "ml-attention-mechanisms[train]"'), out


# --- needs_extra and require_extras themselves -----------------------------------------------------------


def test_needs_extra_leaves_other_import_errors_alone(hide: Callable[..., None]) -> None:
    with pytest.raises(ModuleNotFoundError) as info, needs_extra("data"):
        import pandas.no_such_module  # noqa: F401 - pandas is installed: a broken import, not a missing extra
    assert not isinstance(info.value, MissingExtraError)
    hide("scipy")
    with pytest.raises(ModuleNotFoundError) as info, needs_extra("data"):
        import scipy  # noqa: F401 - not a package of the data extra
    assert not isinstance(info.value, MissingExtraError)
    with pytest.raises(ValueError, match=r"extra 'nope': not an extra .* expected one of data, train"):
        with needs_extra("nope"):
            pass


def test_require_extras_names_only_what_is_missing(hide: Callable[..., None]) -> None:
    require_extras("data", "eval", purpose="x")  # installed: nothing happens
    hide("lightning", "plotly")
    with pytest.raises(MissingExtraError) as info:
        require_extras("data", "train", "viz", purpose="this command")
    assert info.value.extras == ("train", "viz") and info.value.missing == ("lightning", "plotly")
    assert str(info.value) == (
        "this command needs the 'train', 'viz' extras (lightning, plotly: not installed): "
        'pip install "ml-attention-mechanisms[train,viz]"'
    )
    assert not has_module("lightning") and has_module("pandas")


def test_the_import_of_the_package_loads_no_extra(
    modules_loaded_by: Callable[[str, tuple[str, ...]], list[str]],
) -> None:
    optional = tuple(m for extra in EXTRAS.values() for m in extra.modules)
    statements = (
        "import ml_attention_mechanisms as m\n"
        "m.MultiHeadAttention, m.SinusoidalPositionalEncoding, m.TradingTransformer, m.create_crypto_model"
    )
    loaded = modules_loaded_by(statements, optional)
    # torch.hub imports tqdm when it is installed: torch's choice, not a need of these layers
    assert [m for m in loaded if not m.startswith("tqdm")] == [], json.dumps(loaded)
