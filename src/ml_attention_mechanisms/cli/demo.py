"""``mlattn demo``: the project's main job.

Until the evaluation layer lands, it runs the built-in attention example (a small, real computation:
the fused and exact paths checked against each other and against the float64 reference).
"""

from __future__ import annotations

import argparse

import torch

from ._base import EXIT_OK, Subcommand


class Demo(Subcommand):
    name = "demo"
    help = "run the main job on the bundled data (currently: the built-in attention example)"

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        from ..attention._dispatch import explain_dispatch
        from ..attention.multi_head_attention import MultiHeadAttention
        from ..attention.reference import reference_attention
        from ..config import AttentionConfig

        torch.manual_seed(args.seed)
        attn = MultiHeadAttention(AttentionConfig(d_model=64, num_heads=4, causal=True)).eval()
        x = torch.randn(2, 33, 64)
        with torch.no_grad():
            fast = attn(x)
            exact, weights = attn(x, need_weights=True)
            q, k, v = attn.project_qkv(x, x, x)
            ref, _ = reference_attention(q, k, v, is_causal=True)
            ref = attn.merge_heads(ref.float())
        print(explain_dispatch(q, k, v, is_causal=True))
        print(f"output {tuple(fast.shape)}, weights {tuple(weights.shape)}")
        print(f"max |fused - exact| = {(fast - exact).abs().max().item():.2e}")
        print(f"max |fused - float64 reference| = {(fast - ref).abs().max().item():.2e}")
        return EXIT_OK
