"""A causal 24-bar momentum rule after 10 bps fees, against buy-and-hold, on the bundled BTC series."""

from __future__ import annotations

import numpy as np

from ml_attention_mechanisms import BacktestConfig, load_dataset, run_backtest


def main() -> None:
    panel = load_dataset("binance-1h").between("2021-01-01", "2021-06-10")
    close = panel.to_frame("BTC/USDT")["close"].to_numpy()
    if not np.isfinite(close).all():
        raise SystemExit("this example expects no missing BTC bars in 2021-01-01..2021-06-10")
    returns = np.concatenate([[0.0], np.diff(np.log(close))])  # r[t] = log(close[t] / close[t-1])
    momentum = np.zeros_like(close)
    momentum[24:] = close[24:] > close[:-24]  # long when up over the last 24 bars: decided with bars <= t
    config = BacktestConfig()  # 10 bps per unit of turnover, fills at the next bar
    rule = run_backtest(momentum, returns, config)
    hold = run_backtest(np.ones_like(close), returns, config)
    print(f"momentum net Sharpe {rule.metrics['sharpe']:.2f}, buy-and-hold {hold.metrics['sharpe']:.2f}")


if __name__ == "__main__":
    main()
