"""Timestamps as data: to_unix_seconds, detect_time_unit, elapsed_seconds."""

from __future__ import annotations

import calendar
import logging

import pytest
import torch

from ml_attention_mechanisms.encodings import detect_time_unit, elapsed_seconds, to_unix_seconds

T2021 = calendar.timegm((2021, 3, 14, 15, 9, 26))  # a real 2021 instant, seconds


def test_seconds_pass_through_and_milliseconds_are_detected() -> None:
    s = torch.tensor([[T2021, T2021 + 60, T2021 + 120]])
    ms = s * 1000 + 999  # sub-second part is floored
    assert detect_time_unit(s) == "s" and detect_time_unit(ms) == "ms"
    assert torch.equal(to_unix_seconds(s), s)
    assert torch.equal(to_unix_seconds(ms), s)
    assert torch.equal(to_unix_seconds(ms, unit="ms"), s)
    assert to_unix_seconds(s).dtype == torch.int64
    assert torch.equal(to_unix_seconds(s.to(torch.int32)), s)
    assert torch.equal(to_unix_seconds(s.to(torch.float64)), s)


def test_the_detected_unit_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ml_attention_mechanisms.encodings._time"):
        to_unix_seconds(torch.tensor([[T2021 * 1000]]), name="report_check")
    assert "detected timestamp unit 'ms'" in caplog.text and "report_check" in caplog.text


@pytest.mark.parametrize(
    ("value", "kwargs", "message"),
    [
        (torch.tensor([[float("nan"), 1.0]], dtype=torch.float64), {}, "contains NaN"),
        (torch.tensor([[float("inf"), 1.0]], dtype=torch.float64), {}, "contains inf"),
        (torch.tensor([[1.5]], dtype=torch.float64), {}, "fractional"),
        (torch.tensor([[T2021]], dtype=torch.float32), {}, "float32, which cannot represent"),
        (torch.tensor([[True]]), {}, "dtype torch.bool"),
        (torch.tensor([[-5, T2021]]), {}, "negative value \\(-5\\)"),
        (torch.tensor([[10**13]]), {}, "beyond 2100-01-01"),
        (torch.tensor([[T2021 * 10**9]]), {}, "beyond 2100-01-01.*nanoseconds"),
        (torch.tensor([[T2021, T2021 * 1000]]), {}, "mixes units"),
        (torch.tensor([[T2021 * 1000]]), {"unit": "s"}, "after 2100-01-01 in unit 's'.*milliseconds\\?"),
        (torch.tensor([T2021]), {}, "must be \\[batch, seq_len\\], got shape \\(1,\\)"),
        (torch.tensor([[T2021]]), {"unit": "minutes"}, "unit='minutes'"),
        ([[T2021]], {}, "must be a torch.Tensor"),
    ],
)
def test_bad_timestamps_raise_a_value_error_naming_them(value: object, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        to_unix_seconds(value, name="my_ts", **kwargs)  # type: ignore[arg-type]
    if "unit=" not in message:
        assert "my_ts" in str(info.value)


def test_any_rank_with_ndim_none() -> None:
    assert to_unix_seconds(torch.tensor([T2021]), ndim=None).shape == (1,)


def test_elapsed_seconds_are_exact_where_float32_is_not() -> None:
    # Real 2021 one-minute bars: float32 cannot tell them apart, the int64 difference can.
    a = torch.tensor([T2021, T2021 + 60, T2021 + 61])
    naive = a.to(torch.float32) - a[0].to(torch.float32)
    exact = elapsed_seconds(a, a[0]).to(torch.float32)
    assert exact.tolist() == [0.0, 60.0, 61.0]
    assert naive.tolist() != [0.0, 60.0, 61.0]  # the trap the int64 rule avoids
    assert elapsed_seconds(a[0], a[2]).item() == -61  # signed: unsorted inputs are fine
