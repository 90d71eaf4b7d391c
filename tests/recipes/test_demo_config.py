"""DemoConfig: validated on construction, each message naming the field."""

from __future__ import annotations

import pytest

from ml_attention_mechanisms.recipes import DemoConfig


def test_demo_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="models"):
        DemoConfig(models=("nope",))
    with pytest.raises(ValueError, match="window"):
        DemoConfig(window=1)
    for bad in (((0, 4),), ((6144,),), ((6144, 2.5),)):
        with pytest.raises(ValueError, match=r"DemoConfig\.budgets.*\(train_windows, max_epochs\)"):
            DemoConfig(budgets=bad)  # type: ignore[arg-type]
    assert DemoConfig.quick().window < DemoConfig().window
    for bad in (0, 1.5, "3"):
        with pytest.raises(ValueError, match=r"DemoConfig\.ensemble.*int >= 1"):
            DemoConfig(ensemble=bad)  # type: ignore[arg-type]
    # three price models by default; a run stored before ensembles had one
    assert DemoConfig().ensemble == 3 and DemoConfig.quick().ensemble == 1
    assert DemoConfig.from_stored({}, assets=("BTC",), window=8).ensemble == 1
    for field, bad in (
        ("start", "2022-13-01"),
        ("train_end", "2022-02-30"),
        ("val_end", ""),
        ("end", "soon"),
    ):
        with pytest.raises(ValueError, match=rf"DemoConfig\.{field}=.*must be an ISO 8601 date/time"):
            DemoConfig.quick(**{field: bad})
    assert DemoConfig.quick(end="2020-12-24T23:00+00:00").end == "2020-12-24T23:00+00:00"  # an offset reads


def test_models_are_registry_names_one_of_each_kind() -> None:
    from ml_attention_mechanisms.models import get_model_entry

    cfg = DemoConfig(models=("price_predictor", "portfolio_optimizer_small"))  # any registered preset
    assert cfg.batch_size_for("price_predictor") == cfg.batch_size
    assert get_model_entry("portfolio_optimizer_small").output_kind == "portfolio"
    assert cfg.batch_size_for("portfolio_optimizer_small") == max(4, cfg.batch_size // 4)
    with pytest.raises(ValueError, match=r"DemoConfig\.models.*price_predictor_small.*repeat a kind"):
        DemoConfig(models=("price_predictor", "price_predictor_small"))  # the second would replace the first


def test_stored_config_round_trip() -> None:
    cfg = DemoConfig.quick(models=("price_predictor_small",))
    stored = {**cfg.to_dict(), "unknown_key": 1}
    again = DemoConfig.from_stored(stored, assets=("XYZ",), window=8)
    assert again.models == cfg.models and again.assets == ("XYZ",) and again.window == 8
    assert again.model_overrides == cfg.model_overrides
    assert again.budgets == cfg.budgets and again.training_budgets()[1].train_windows == cfg.budgets[0][0]
    # a run stored before training budgets existed trained with one
    old = {k: v for k, v in cfg.to_dict().items() if k != "budgets"}
    assert DemoConfig.from_stored(old, assets=("XYZ",), window=8).training_budgets() == [
        DemoConfig.from_stored(old, assets=("XYZ",), window=8)
    ]


def test_training_budgets_replace_windows_and_epochs_only() -> None:
    cfg = DemoConfig(budgets=((16384, 10), (2048, 2)))
    runs = cfg.training_budgets()
    assert runs[0] is cfg
    assert [(c.train_windows, c.max_epochs) for c in runs] == [(6144, 4), (16384, 10), (2048, 2)]
    assert all(c.steps_per_epoch == cfg.steps_per_epoch and c.val_windows == cfg.val_windows for c in runs)
    assert all(c.budgets == () for c in runs[1:])


def test_data_files_and_how_they_are_read() -> None:
    from ml_attention_mechanisms.recipes.config import DEMO_ASSETS

    assert DemoConfig().assets == DEMO_ASSETS and DemoConfig().data == ()  # the bundled dataset's assets
    assert DemoConfig(data="BTCUSDT_1h.csv").data == ("BTCUSDT_1h.csv",)  # one file, not its letters
    own = DemoConfig(data=("BTCUSDT_1h.csv",), timezone="Asia/Seoul")
    assert own.assets == ()  # every asset of the files, resolved when they are read
    assert own.to_dict()["data"] == ["BTCUSDT_1h.csv"]
    with pytest.raises(ValueError, match=r"DemoConfig\.timezone='UTC\+8': applies to data files only"):
        DemoConfig(timezone="UTC+8")
    with pytest.raises(ValueError, match=r"DemoConfig\.timezone='Asia/Shang'"):
        DemoConfig(data=("BTCUSDT_1h.csv",), timezone="Asia/Shang")
    with pytest.raises(ValueError, match=r"DemoConfig\.missing_hours='never'"):
        DemoConfig(missing_hours="never")
