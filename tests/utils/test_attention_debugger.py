"""AttentionDebugger: a planted NaN/Inf is found and its first producer named; gradient flow."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ml_attention_mechanisms import AttentionConfig, MultiHeadAttention
from ml_attention_mechanisms.utils.attention_utils import AttentionDebugger


class Stack(nn.Module):
    """Three attention layers with a norm in between: the shape the debugger will meet in models."""

    def __init__(self, d_model: int = 16, layers: int = 3) -> None:
        super().__init__()
        cfg = AttentionConfig(d_model=d_model, num_heads=2)
        self.layers = nn.ModuleList(MultiHeadAttention(cfg) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = x + layer(x)
        return self.norm(x)


def _names(model: nn.Module) -> list[str]:
    return [n or type(model).__name__ for n, _ in model.named_modules()]


def test_clean_model_reports_no_issue_and_checks_every_module() -> None:
    model = Stack()
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    model(torch.randn(2, 5, 16))
    report = debugger.get_debug_report()
    # Every module that ran: all but the ModuleList container, which is never called itself.
    assert report["num_modules_checked"] == len(_names(model)) - 1
    assert "layers" not in report["module_stats"]
    assert isinstance(report["num_modules_checked"], int)
    assert report["modules_with_nan"] == 0 and report["modules_with_inf"] == 0
    assert report["first_bad_module"] is None
    assert report["attention_modules"] == ["layers.0", "layers.1", "layers.2"]
    assert report["module_stats"]["layers.1"]["output_shapes"] == [(2, 5, 16)]
    debugger.remove_hooks()


def test_a_planted_nan_is_found_and_its_first_producer_named() -> None:
    model = Stack()
    with torch.no_grad():
        model.layers[1].out_proj.weight[0, 0] = float("nan")
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    model(torch.randn(2, 5, 16))
    report = debugger.get_debug_report()
    assert report["first_bad_module"] == "layers.1.out_proj"
    assert report["first_bad_kind"] == "nan"
    # Everything downstream of the planted weight carries the NaN, in the order the hooks fired.
    expected = [
        "layers.1.out_proj",
        "layers.1",
        "layers.2.in_proj",
        "layers.2.out_proj",
        "layers.2",
        "norm",
        "Stack",
    ]
    assert report["nan_modules"] == expected
    assert report["modules_with_nan"] == len(expected)
    assert report["modules_with_inf"] == 0
    # The spec's line adds two ints.
    assert report["modules_with_nan"] + report["modules_with_inf"] == len(expected)


def test_a_planted_inf_is_reported_as_inf() -> None:
    model = Stack()
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    with torch.no_grad():
        model.layers[0].in_proj.bias.fill_(float("inf"))
    model(torch.randn(1, 3, 16))
    report = debugger.get_debug_report()
    assert report["first_bad_module"] == "layers.0.in_proj"
    assert report["first_bad_kind"] == "inf"
    assert report["inf_modules"][0] == "layers.0.in_proj"
    assert report["modules_with_inf"] == len(report["inf_modules"]) >= 1


def test_remove_hooks_stops_checking_and_reset_clears() -> None:
    model = Stack(layers=1)
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    model(torch.randn(1, 3, 16))
    debugger.remove_hooks()
    assert all(not m._forward_hooks for m in model.modules())
    before = debugger.get_debug_report()["module_stats"]["Stack"]["calls"]
    model(torch.randn(1, 3, 16))
    assert debugger.get_debug_report()["module_stats"]["Stack"]["calls"] == before
    debugger.reset()
    assert debugger.get_debug_report()["num_modules_checked"] == 0


def test_registering_twice_does_not_double_hooks() -> None:
    model = Stack(layers=1)
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    debugger.register_attention_hooks(model)
    assert sum(len(m._forward_hooks) for m in model.modules()) == len(_names(model))
    with debugger:
        model(torch.randn(1, 3, 16))
    assert debugger.get_debug_report()["module_stats"]["Stack"]["calls"] == 1
    assert all(not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize(("scale", "flag"), [(1e-12, "vanishing"), (1e8, "exploding")])
def test_gradient_flow_flags_at_the_documented_thresholds(scale: float, flag: str) -> None:
    model = Stack(layers=2)
    debugger = AttentionDebugger()  # vanishing < 1e-7, exploding > 1e3 (gradient L2 norm per layer)
    debugger.register_attention_hooks(model)
    (model(torch.randn(2, 4, 16)).pow(2).sum() * scale).backward()
    report = debugger.get_debug_report()
    flow = report["gradient_flow"]
    assert set(flow) == {
        "layers.0.in_proj",
        "layers.0.out_proj",
        "layers.1.in_proj",
        "layers.1.out_proj",
        "norm",
    }
    for name, row in flow.items():
        module = model.get_submodule(name)
        grads = torch.cat([p.grad.reshape(-1).double() for p in module.parameters(recurse=False)])
        assert row["grad_norm"] == pytest.approx(float(torch.linalg.vector_norm(grads)))
        assert row["vanishing"] == (row["grad_norm"] < 1e-7)
        assert row["exploding"] == (row["grad_norm"] > 1e3)
    flagged = report[f"{flag}_gradient_layers"]
    assert flagged == [n for n, r in flow.items() if r[flag]]
    assert flagged  # the scale puts at least one layer past the threshold


def test_nan_gradients_are_listed() -> None:
    model = Stack(layers=1)
    debugger = AttentionDebugger()
    debugger.register_attention_hooks(model)
    model(torch.randn(1, 3, 16)).sum().backward()
    model.norm.weight.grad[0] = float("nan")
    assert debugger.get_debug_report()["nan_gradient_layers"] == ["norm"]


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="must be below"):
        AttentionDebugger(vanishing_threshold=1.0, exploding_threshold=0.5)
    with pytest.raises(ValueError, match="must be positive"):
        AttentionDebugger(vanishing_threshold=0.0)
    with pytest.raises(ValueError, match=r"model must be an nn\.Module"):
        AttentionDebugger().register_attention_hooks("model")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gradient_flow needs a model"):
        AttentionDebugger().gradient_flow()
