"""MarketTimeEncoding: calendar, sessions with DST, funding clock, halving cycle, seasonality."""

from __future__ import annotations

import calendar
import datetime as dt
import math
from zoneinfo import ZoneInfo

import pytest
import torch

from ml_attention_mechanisms.encodings import CryptoPositionalEncoding, MarketTimeConfig, MarketTimeEncoding
from ml_attention_mechanisms.encodings import _calendar as cal

UTC = dt.timezone.utc


def _ts(*args: int) -> int:
    return calendar.timegm((*args, 0, 0, 0, 0, 0, 0)[:9])  # type: ignore[arg-type]


def _features(enc: MarketTimeEncoding, seconds: list[int]) -> dict[str, torch.Tensor]:
    f = enc.features(torch.tensor([seconds]))[0]  # (T, F)
    return {name: f[:, i] for i, name in enumerate(enc.feature_names)}


def _expected_calendar(t: int) -> dict[str, float]:
    d = dt.datetime.fromtimestamp(t, UTC)
    days_in_month = calendar.monthrange(d.year, d.month)[1]
    phases = {
        "minute": d.minute / 60,
        "hour": d.hour / 24,
        "weekday": d.weekday() / 7,
        "monthday": (d.day - 1) / days_in_month,
        "month": (d.month - 1) / 12,
    }
    out = {}
    for k, p in phases.items():
        out[f"{k}_sin"], out[f"{k}_cos"] = math.sin(2 * math.pi * p), math.cos(2 * math.pi * p)
    return out


def test_calendar_at_a_monday_midnight_and_random_instants() -> None:
    monday = _ts(2021, 1, 4)
    assert dt.datetime.fromtimestamp(monday, UTC).weekday() == 0
    g = torch.Generator().manual_seed(0)
    instants = [
        monday,
        _ts(2024, 2, 29, 23, 59),
        *torch.randint(0, 4_102_444_800, (200,), generator=g).tolist(),
    ]
    enc = MarketTimeEncoding(8)
    got = _features(enc, instants)
    for i, t in enumerate(instants):
        for name, want in _expected_calendar(t).items():
            assert abs(float(got[name][i]) - want) < 1e-5, (t, name)
    for name in ("minute", "hour", "weekday", "month"):  # Monday 2021-01-04 00:00: all at phase 0
        assert float(got[f"{name}_sin"][0]) == 0.0 and float(got[f"{name}_cos"][0]) == 1.0


def test_integer_calendar_matches_datetime() -> None:
    g = torch.Generator().manual_seed(1)
    s = torch.randint(0, 4_102_444_800, (500,), generator=g)
    f = cal.calendar_fields(s)
    for i, t in enumerate(s.tolist()):
        d = dt.datetime.fromtimestamp(t, UTC)
        assert (int(f["year"][i]), int(f["month"][i]), int(f["day"][i])) == (d.year, d.month, d.day)
        assert (
            int(f["weekday"][i]) == d.weekday()
            and int(f["days_in_month"][i]) == calendar.monthrange(d.year, d.month)[1]
        )


def _session_reference(t: int) -> list[float]:
    d = dt.datetime.fromtimestamp(t, UTC)

    def open_in(zone: str) -> bool:
        local = d.astimezone(ZoneInfo(zone))
        hours = {"Asia/Tokyo": (9, 18), "Europe/London": (8, 17), "America/New_York": (8, 17)}[zone]
        return local.weekday() < 5 and hours[0] <= local.hour < hours[1]

    asia, europe, us = open_in("Asia/Tokyo"), open_in("Europe/London"), open_in("America/New_York")
    return [float(v) for v in (asia, europe, us, asia and europe, europe and us, d.weekday() >= 5)]


@pytest.mark.parametrize(
    "day",
    [
        (2021, 3, 14),  # US daylight time starts
        (2021, 3, 28),  # EU summer time starts
        (2021, 10, 31),  # EU summer time ends
        (2021, 11, 7),  # US daylight time ends
        (2024, 3, 10),
        (2024, 10, 27),
        (2021, 3, 15),  # the Monday in between (only the US has moved)
        (2021, 7, 16),  # a summer Friday: sessions close into the weekend
    ],
)
def test_sessions_follow_daylight_saving_in_their_own_time_zones(day: tuple[int, int, int]) -> None:
    start = _ts(*day) - 6 * 3600
    instants = [start + 900 * i for i in range(4 * 36)]  # every 15 min over 36 hours around the day
    got = cal.session_flags(torch.tensor(instants))
    want = torch.tensor([_session_reference(t) for t in instants])
    assert torch.equal(got, want)


def test_sessions_on_random_instants_and_an_overlap() -> None:
    g = torch.Generator().manual_seed(2)
    s = torch.randint(_ts(2008, 1, 1), _ts(2035, 1, 1), (300,), generator=g)
    assert torch.equal(cal.session_flags(s), torch.tensor([_session_reference(t) for t in s.tolist()]))
    wed = _ts(2021, 1, 6, 13, 30)  # London 13:30 GMT and New York 08:30 EST: Europe-US overlap
    flags = dict(zip(cal.SESSION_NAMES, cal.session_flags(torch.tensor(wed)).tolist()))
    assert flags == {"asia": 0, "europe": 1, "us": 1, "asia_europe": 0, "europe_us": 1, "weekend": 0}


def test_funding_clock_at_each_funding_time() -> None:
    day = _ts(2022, 6, 1)
    enc = MarketTimeEncoding(
        8, MarketTimeConfig(calendar=False, sessions=False, halving=False, seasonality_periods=())
    )
    assert enc.feature_names == ["funding_sin", "funding_cos", "funding_phase"]
    got = _features(enc, [day, day + 8 * 3600, day + 16 * 3600, day + 4 * 3600, day + 8 * 3600 - 1])
    assert got["funding_phase"][:3].tolist() == [0.0, 0.0, 0.0]
    assert got["funding_cos"][:3].tolist() == [1.0, 1.0, 1.0]
    assert abs(float(got["funding_phase"][3]) - 0.5) < 1e-7
    assert abs(float(got["funding_phase"][4]) - (1 - 1 / 28800)) < 1e-6


def test_halving_phase_at_each_halving_date_and_extrapolated() -> None:
    dates = [dt.datetime(2012, 11, 28, tzinfo=UTC), dt.datetime(2016, 7, 9, tzinfo=UTC),
             dt.datetime(2020, 5, 11, tzinfo=UTC), dt.datetime(2024, 4, 20, tzinfo=UTC)]  # fmt: skip
    secs = [int(d.timestamp()) for d in dates]
    phase = cal.halving_phase(torch.tensor(secs))
    assert phase.tolist() == [0.0, 0.0, 0.0, 0.0]
    just_before = cal.halving_phase(torch.tensor([s - 1 for s in secs[1:]]))
    assert (just_before > 0.999999).all()
    mid = (secs[1] + secs[2]) // 2
    assert abs(float(cal.halving_phase(torch.tensor(mid))) - 0.5) < 1e-6
    # Past the last halving: cycles of the last observed length (2020-05-11 -> 2024-04-20).
    last_len = dates[3] - dates[2]
    next_one = dates[3] + last_len
    assert next_one.date() == dt.date(2028, 3, 30)
    after = cal.halving_phase(
        torch.tensor([int(next_one.timestamp()), int((dates[3] + last_len / 4).timestamp())])
    )
    assert after[0] == 0.0 and abs(float(after[1]) - 0.25) < 1e-6
    # Before the first halving: from the genesis block (2009-01-03).
    genesis = int(dt.datetime(2009, 1, 3, tzinfo=UTC).timestamp())
    assert float(cal.halving_phase(torch.tensor(genesis))) == 0.0


def test_seasonality_terms_match_the_fourier_formula() -> None:
    periods = (86_400, 604_800)
    enc = MarketTimeEncoding(
        8,
        MarketTimeConfig(
            calendar=False,
            sessions=False,
            funding=False,
            halving=False,
            seasonality_periods=periods,
            seasonality_harmonics=3,
        ),
    )
    instants = [_ts(2021, 2, 3, 4, 5), _ts(2023, 9, 9, 21, 17)]
    got = _features(enc, instants)
    assert len(enc.feature_names) == 2 * 3 * 2
    for i, t in enumerate(instants):
        for p in periods:
            for k in (1, 2, 3):
                angle = 2 * math.pi * k * (t % p) / p
                assert abs(float(got[f"season{p}s_k{k}_sin"][i]) - math.sin(angle)) < 1e-6
                assert abs(float(got[f"season{p}s_k{k}_cos"][i]) - math.cos(angle)) < 1e-6


def test_parts_are_switchable_and_the_projection_learns() -> None:
    full = MarketTimeEncoding(8)
    assert full.num_features == 10 + 6 + 3 + 3 + 4 * 2 * 2
    only_sessions = MarketTimeEncoding(
        8, MarketTimeConfig(calendar=False, funding=False, halving=False, seasonality_periods=())
    )
    assert only_sessions.feature_names == list(cal.SESSION_NAMES)
    ts = torch.tensor([[_ts(2021, 1, 4, h) for h in range(6)]])
    full(torch.zeros(1, 6, 8), ts).pow(2).sum().backward()
    assert full.proj.weight.grad is not None and full.proj.weight.grad.abs().sum() > 0


def test_seconds_and_milliseconds_dtypes_and_determinism() -> None:
    ts = torch.randint(1_640_995_200, 1_672_531_200, (3, 10))
    enc = CryptoPositionalEncoding(16, 4)
    x = torch.randn(3, 10, 16)
    a, b = enc(x, ts), enc(x, ts * 1000)
    assert torch.equal(a, b) and torch.equal(a, enc(x, ts))
    assert torch.equal(enc.attention_bias(10, 10, ts), enc.attention_bias(10, 10, ts * 1000))
    assert enc.features(ts).dtype == torch.float32
    assert enc(x.double(), ts).dtype == torch.float64
    torch.manual_seed(3)
    e1 = MarketTimeEncoding(16)
    torch.manual_seed(3)
    e2 = MarketTimeEncoding(16)
    assert torch.equal(e1(x, ts), e2(x, ts))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"calendar": False, "sessions": False, "funding": False, "halving": False, "seasonality_periods": ()},
         "at least one part"),
        ({"seasonality_periods": (86400, 0)}, r"MarketTimeConfig.seasonality_periods=\(86400, 0\)"),
        ({"seasonality_periods": [86400]}, "must be a tuple"),
        ({"seasonality_harmonics": 0}, "MarketTimeConfig.seasonality_harmonics=0"),
        ({"dropout": 1.0}, "MarketTimeConfig.dropout=1.0"),
    ],
)  # fmt: skip
def test_config_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MarketTimeConfig(**kwargs)


def test_bad_timestamps_raise() -> None:
    enc = CryptoPositionalEncoding(8, 2)
    x = torch.zeros(1, 3, 8)
    with pytest.raises(ValueError, match="needs timestamps"):
        enc(x)
    with pytest.raises(ValueError, match="needs timestamps"):
        enc.attention_bias(3, 3)
    with pytest.raises(ValueError, match=r"timestamps must have shape \[batch, seq_len\] = \(1, 3\)"):
        enc(x, torch.full((1, 4), 1_640_995_200))
    with pytest.raises(ValueError, match="timestamps contains a negative value"):
        enc(x, torch.tensor([[-1, 0, 1]]))
    with pytest.raises(ValueError, match=r"timestamps has dtype torch\.float32"):
        enc(x, torch.full((1, 3), 1.6e9))
    with pytest.raises(ValueError, match="timestamps contains NaN"):
        enc(x, torch.full((1, 3), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match=r"timestamps must be \[batch, seq_len\]"):
        enc(x, torch.full((3,), 1_640_995_200))
