"""The bundled Binance hourly dataset: quality reports, causal features and the default split."""

from __future__ import annotations

from ml_attention_mechanisms import compute_features, load_dataset, split_by_time


def main() -> None:
    panel = load_dataset("binance-1h")
    print(f"assets {panel.symbols}, {len(panel.timestamps)} hourly bars")
    for symbol, report in panel.reports.items():
        print(
            symbol,
            f"rows read {report.rows_read}, duplicates {report.duplicates}, conflicts {report.conflicts}",
        )
    features = compute_features(panel)  # [time, assets, features], each from bars <= t
    split = split_by_time(
        panel.timestamps, train_end="2020-06-30 23:00", val_end="2020-12-31 23:00", horizon=24
    )
    print(
        f"features {features.shape}; train/val/test bars {len(split.train)}/{len(split.val)}/{len(split.test)}"
    )


if __name__ == "__main__":
    main()
