"""The attention kernels the dispatch (:mod:`._dispatch`) chooses from, each with its declared capabilities.

Private to the dispatch: nothing else in the package imports this module (a test checks it); layers call
:func:`._dispatch.attend` (or, for the streamed linear form, the dispatch's ``linear_attention_state`` /
``linear_attention_readout``). Backends: ``math`` (explicit softmax; weights), ``sdpa`` (PyTorch's fused
kernels), ``flash_attn`` (the CUDA package), ``chunked`` (exact online softmax in bounded memory) and ``linear``
(Katharopoulos et al. 2020). Every backend gives zeros, never NaN, for a query row that may attend to nothing.

Shapes:
    ``q [B, H, Tq, D]``, ``k``/``v`` ``[B, Hkv, Tk, D]`` with ``H % Hkv == 0``, ``mask`` broadcastable to
    ``[B, H, Tq, Tk]`` (bool True = may attend, or additive float).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from ._chunking import DEFAULT_MAX_MEMORY_MB, choose_chunk_size
from ._masks import PreparedMask, causal_mask

# Looked up once (without importing it): an import inside the dispatch would break torch.compile graphs.
_HAS_FLASH_ATTN = importlib.util.find_spec("flash_attn") is not None


@dataclass(frozen=True)
class AttentionInputs:
    """What a backend needs to know to decide whether it can run."""

    q: Tensor
    k: Tensor
    v: Tensor
    mask: Tensor | None
    is_causal: bool
    window: int | None
    dropout_p: float
    need_weights: bool
    chunk_size: int | None = None  # tile side for the chunked backend (None = from the default budget)
    prepared: PreparedMask | None = None  # the folded mask ``mask`` comes from (``mask`` is its float32 form)


class Backend:
    """A kernel with declared capabilities.

    Subclasses set the class attributes and implement :meth:`run`; :meth:`not_supported_reasons` returns
    an empty list when the backend can run the inputs.
    """

    name: ClassVar[str] = "base"
    SUPPORTED_DTYPES: ClassVar[tuple[torch.dtype, ...]] = (
        torch.float16,
        torch.bfloat16,
        torch.float32,
        torch.float64,
    )
    SUPPORTS_DROPOUT: ClassVar[bool] = True
    RETURNS_WEIGHTS: ClassVar[bool] = False
    EXACT: ClassVar[bool] = True  # computes softmax attention exactly (linear attention does not)
    REQUIRES_CUDA: ClassVar[bool] = False

    def not_supported_reasons(self, inp: AttentionInputs) -> list[str]:
        reasons = []
        if inp.q.dtype not in self.SUPPORTED_DTYPES:
            reasons.append(f"dtype {inp.q.dtype} not in {self.SUPPORTED_DTYPES}")
        if inp.dropout_p > 0 and not self.SUPPORTS_DROPOUT:
            reasons.append("dropout not supported")
        if inp.need_weights and not self.RETURNS_WEIGHTS:
            reasons.append("does not return attention weights")
        if self.REQUIRES_CUDA and not inp.q.is_cuda:
            reasons.append("needs CUDA tensors")
        return reasons

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        raise NotImplementedError


def _full_mask(inp: AttentionInputs) -> Tensor | None:
    """The explicit mask (bool or additive float) including causal/window structure."""
    mask = inp.mask
    if inp.is_causal or inp.window is not None:
        cm = causal_mask(inp.q.shape[-2], inp.k.shape[-2], device=inp.q.device, window=inp.window)
        if mask is None:
            mask = cm
        elif mask.dtype == torch.bool:
            mask = mask & cm
        else:
            mask = mask.masked_fill(~cm, float("-inf"))
    return mask


def _allowed(mask: Tensor) -> Tensor:
    return mask if mask.dtype == torch.bool else mask > float("-inf")


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _expand_kv(x: Tensor, heads: int) -> Tensor:
    rep = heads // x.shape[1]
    return x if rep == 1 else x.repeat_interleave(rep, dim=1)  # (B, H, Tk, D)


class MathBackend(Backend):
    """Explicit ``softmax(q k^T * scale + mask) v``; the only backend that returns weights."""

    name = "math"
    RETURNS_WEIGHTS = True

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        q, heads = inp.q, inp.q.shape[1]
        k, v = _expand_kv(inp.k, heads), _expand_kv(inp.v, heads)
        acc_t = _acc_dtype(q.dtype)  # float32 softmax for half types; float64 stays float64
        scores = torch.matmul(q, k.transpose(-2, -1)).to(acc_t) * scale  # (B, H, Tq, Tk)
        mask = _full_mask(inp)
        row_ok: Tensor | None = None
        if mask is not None:
            if mask.dtype == torch.bool:
                allowed = mask
            else:
                scores = scores + mask.to(acc_t)
                allowed = scores > float("-inf")
            # A finite floor instead of -inf keeps softmax and its gradient finite on empty rows;
            # those rows are then zeroed explicitly.
            scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
            row_ok = allowed.any(dim=-1, keepdim=True)  # (B|1, H|1, Tq, 1)
        weights = torch.softmax(scores, dim=-1)
        if row_ok is not None:
            weights = weights * row_ok
        weights = weights.to(q.dtype)
        attn = F.dropout(weights, p=inp.dropout_p) if inp.dropout_p > 0 else weights
        out = torch.matmul(attn, v)  # (B, H, Tq, D)
        return out, (weights if inp.need_weights else None)


class SDPABackend(Backend):
    """``torch.nn.functional.scaled_dot_product_attention`` (flash / memory-efficient / math kernels)."""

    name = "sdpa"

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        q, k, v = inp.q, inp.k, inp.v
        gqa = bool(q.shape[1] != k.shape[1])  # a Python bool also under tracing (shapes are tensors there)
        tq, tk = q.shape[-2], k.shape[-2]
        if inp.prepared is not None:
            # Folded once for many calls: no empty row, already in the kernel's form (the dispatch zeroes
            # the rows of ``row_ok`` afterwards).
            out = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=inp.prepared.for_dtype(q.dtype),
                dropout_p=inp.dropout_p,
                is_causal=False,
                scale=scale,
                enable_gqa=gqa,
            )
            return out, None
        if inp.mask is None and inp.window is None and inp.is_causal and tq == tk:
            # The fused causal kernel skips the upper triangle: the fast path for training and prefill.
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=inp.dropout_p, is_causal=True, scale=scale, enable_gqa=gqa
            )
            return out, None
        mask = _full_mask(inp)
        row_ok: Tensor | None = None
        if mask is not None:
            allowed = _allowed(mask)
            row_ok = allowed.any(dim=-1, keepdim=True)  # (B|1, H|1, Tq, 1)
            # Rows that may attend to nothing would come back NaN (and poison gradients): let them attend
            # everywhere, then zero them.
            if mask.dtype == torch.bool:
                mask = mask | ~row_ok
            else:
                mask = mask.masked_fill(~row_ok, 0.0)
            if mask.dtype != torch.bool and mask.dtype != q.dtype:
                # Large finite negatives (-1e9) would become -inf in half precision and empty a row that the
                # check above counted as non-empty (NaN or zeros instead of the row's average).
                mask = mask.clamp_min(torch.finfo(q.dtype).min).to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=inp.dropout_p, is_causal=False, scale=scale, enable_gqa=gqa
        )
        if row_ok is not None:
            out = out * row_ok.to(out.dtype)
        return out, None


class FlashAttnBackend(Backend):
    """The ``flash-attn`` package (CUDA only, fp16/bf16, no arbitrary masks)."""

    name = "flash_attn"
    SUPPORTED_DTYPES = (torch.float16, torch.bfloat16)
    REQUIRES_CUDA = True

    def not_supported_reasons(self, inp: AttentionInputs) -> list[str]:
        reasons = super().not_supported_reasons(inp)
        if inp.mask is not None:
            reasons.append("arbitrary masks not supported")
        d = inp.q.shape[-1]
        if d % 8 or d > 256 or inp.v.shape[-1] != d:
            reasons.append(
                f"head dim {d} (value {inp.v.shape[-1]}) not supported: needs equal, a multiple of 8, <= 256"
            )
        if not _HAS_FLASH_ATTN:
            reasons.append("package flash-attn not installed")
        return reasons

    def run(
        self, inp: AttentionInputs, scale: float
    ) -> tuple[Tensor, Tensor | None]:  # pragma: no cover - CUDA
        from flash_attn import flash_attn_func

        window = (inp.window - 1, 0) if inp.window is not None else (-1, -1)
        out = flash_attn_func(
            inp.q.transpose(1, 2),  # (B, Tq, H, D)
            inp.k.transpose(1, 2),
            inp.v.transpose(1, 2),
            dropout_p=inp.dropout_p,
            softmax_scale=scale,
            causal=inp.is_causal,
            window_size=window,
        )
        return out.transpose(1, 2), None


def _narrow(t: Tensor, dim: int, start: int, stop: int) -> Tensor:
    """Slice a broadcastable mask along ``dim`` unless it broadcasts there (size 1)."""
    return t if t.shape[dim] == 1 else t.narrow(dim, start, stop - start)


class ChunkedBackend(Backend):
    """Exact softmax attention tile by tile with an online softmax: the score working set is one tile.

    Queries are taken in blocks and keys in chunks of ``chunk_size`` (``choose_chunk_size`` from a memory
    budget when not given); a running row maximum, denominator and weighted sum are rescaled as each key
    chunk arrives (Rabe & Staats 2021, https://arxiv.org/abs/2112.05682). Tiles entirely outside a causal
    or sliding-window mask are skipped. Dropout drops the unnormalised weights, which equals dropping the
    normalised ones.
    """

    name = "chunked"

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        q, k, v, mask = inp.q, inp.k, inp.v, inp.mask
        b, heads, tq, tk = q.shape[0], q.shape[1], q.shape[-2], k.shape[-2]
        c = inp.chunk_size or choose_chunk_size(
            tq, tk, batch=b, num_heads=heads, dtype=q.dtype, max_memory_mb=DEFAULT_MAX_MEMORY_MB
        )
        acc_t = _acc_dtype(q.dtype)
        offset, structured = tk - tq, inp.is_causal or inp.window is not None
        blocks: list[Tensor] = []
        for qs in range(0, tq, c):
            qe = min(qs + c, tq)
            qb = q[..., qs:qe, :]  # (B, H, c, D)
            row_max = q.new_full((b, heads, qe - qs, 1), float("-inf"), dtype=acc_t)
            denom = q.new_zeros((b, heads, qe - qs, 1), dtype=acc_t)
            acc = q.new_zeros((b, heads, qe - qs, v.shape[-1]), dtype=acc_t)
            for ks in range(0, tk, c):
                ke = min(ks + c, tk)
                if structured and ks > offset + qe - 1:
                    break  # every later key is in the future of every query of the block
                if inp.window is not None and ke - 1 <= offset + qs - inp.window:
                    continue  # the whole chunk has slid out of every query's window
                kb = _expand_kv(k[..., ks:ke, :], heads)  # (B, H, c, D)
                vb = _expand_kv(v[..., ks:ke, :], heads)
                scores = torch.matmul(qb, kb.transpose(-2, -1)).to(acc_t) * scale  # (B, H, c, c)
                allowed: Tensor | None = None
                if mask is not None:
                    mb = _narrow(_narrow(mask, -2, qs, qe), -1, ks, ke)
                    if mb.dtype == torch.bool:
                        allowed = mb
                    else:
                        scores = scores + mb.to(acc_t)
                if structured:
                    qi = torch.arange(qs, qe, device=q.device).unsqueeze(-1) + offset  # (c, 1)
                    kj = torch.arange(ks, ke, device=q.device).unsqueeze(0)  # (1, c)
                    cm = kj <= qi if inp.is_causal else torch.ones_like(kj <= qi)
                    if inp.window is not None:
                        cm = cm & (qi - kj < inp.window)
                    allowed = cm if allowed is None else allowed & cm
                if allowed is not None:
                    scores = scores.masked_fill(~allowed, float("-inf"))
                # The running maximum only stabilises exp(); it cancels, so it carries no gradient.
                new_max = torch.maximum(row_max, scores.detach().amax(dim=-1, keepdim=True))
                safe = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
                p = torch.exp(scores - safe)  # masked -> exactly 0
                alpha = torch.exp(row_max - safe)
                denom = denom * alpha + p.sum(dim=-1, keepdim=True)
                if inp.dropout_p > 0:
                    p = F.dropout(p, p=inp.dropout_p)
                acc = acc * alpha + torch.matmul(p.to(v.dtype), vb).to(acc_t)
                row_max = new_max
            # Rows that saw no allowed key have denom 0: zeros, with zero gradient.
            out = torch.where(
                denom > 0, acc / denom.clamp_min(torch.finfo(acc_t).tiny), torch.zeros_like(acc)
            )
            blocks.append(out.to(q.dtype))
        return torch.cat(blocks, dim=-2), None  # (B, H, Tq, Dv)


def elu_feature_map(x: Tensor, *, inplace: bool = False) -> Tensor:
    """``elu(x) + 1``: the positive feature map of Katharopoulos et al. 2020 (``inplace``: no autograd)."""
    return F.elu(x).add_(1.0) if inplace else F.elu(x) + 1.0


def _needs_grad(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def _linear_normalise(num: Tensor, den: Tensor, grad: bool) -> Tensor:
    """``num / den``; rows with no key (``den == 0``) give zeros and zero gradient."""
    tiny = torch.finfo(num.dtype).tiny
    if grad:
        return torch.where(den > 0, num / den.clamp_min(tiny), torch.zeros_like(num))
    return num.div_(den.clamp_min_(tiny))  # inference: in place (num is exactly 0 where den is 0, phi > 0)


def linear_attention_state(k: Tensor, v: Tensor, key_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The key/value summary of non-causal linear attention over a block of keys.

    Summaries of consecutive key blocks add up, so a long sequence can be summarised chunk by chunk in
    constant memory (``LinearAttention`` does so, projections included).

    Args:
        k: ``[B, Hkv, Tk, D]``.
        v: ``[B, Hkv, Tk, Dv]``.
        key_mask: bool ``[B, 1, 1, Tk]``, True = the key is present; absent keys contribute nothing.

    Returns:
        ``(kv [B, Hkv, D, Dv], z [B, Hkv, 1, D])``: ``sum_j phi(k_j) v_j^T`` and ``sum_j phi(k_j)`` in the
        accumulation dtype (float32, float64 for float64 inputs).
    """
    acc_t = _acc_dtype(k.dtype)
    fk = elu_feature_map(k.to(acc_t), inplace=not _needs_grad(k))  # (B, Hkv, Tk, D)
    if key_mask is not None:
        fk = fk * key_mask.transpose(-1, -2).to(acc_t)
    return torch.matmul(fk.transpose(-2, -1), v.to(acc_t)), fk.sum(dim=-2, keepdim=True)


def linear_readout(q: Tensor, kv: Tensor, z: Tensor) -> Tensor:
    """Outputs of non-causal linear attention for queries ``q [B, H, Tq, D]`` from a key summary.

    ``out_i = phi(q_i) kv / phi(q_i) z`` with ``(kv, z)`` from :func:`linear_attention_state` (``Hkv`` heads,
    repeated to ``H`` for grouped-query attention). Returns ``[B, H, Tq, Dv]`` in ``q.dtype``.
    """
    acc_t = kv.dtype
    grad = _needs_grad(q, kv, z)
    heads = q.shape[1]
    fq = elu_feature_map(q.to(acc_t), inplace=not grad)  # (B, H, Tq, D)
    num = torch.matmul(fq, _expand_kv(kv, heads))  # (B, H, Tq, Dv)
    den = torch.matmul(fq, _expand_kv(z, heads).transpose(-2, -1))  # (B, H, Tq, 1)
    return _linear_normalise(num, den, grad).to(q.dtype)


class LinearBackend(Backend):
    """Linear attention (Katharopoulos et al. 2020, https://arxiv.org/abs/2006.16236); **not** softmax.

    ``out_i = phi(q_i) S / phi(q_i) z`` with ``S = sum_j phi(k_j) v_j^T`` and ``z = sum_j phi(k_j)``,
    ``phi = elu + 1``. The causal form is exact: ``S`` and ``z`` are cumulative sums over keys ``j <= i``,
    computed block by block (a prefix state carried between blocks plus a masked product inside a block),
    so memory stays ``O(T * D + D * Dv)``. Keys may be dropped by a key mask ``[B, 1, 1, Tk]``; other masks,
    windows and dropout are refused. Being non-exact, it is never chosen by ``"auto"``.
    """

    name = "linear"
    EXACT = False
    SUPPORTS_DROPOUT = False
    BLOCK = 64  # block of the exact causal cumulative sum

    def not_supported_reasons(self, inp: AttentionInputs) -> list[str]:
        reasons = super().not_supported_reasons(inp)
        if inp.window is not None:
            reasons.append("sliding windows not supported")
        m = inp.mask
        if m is not None and not (
            m.dtype == torch.bool and m.dim() == 4 and m.shape[1] == 1 and m.shape[2] == 1
        ):
            reasons.append(f"only a bool key mask [B, 1, 1, Tk] is supported, got {tuple(m.shape)} {m.dtype}")
        return reasons

    def run(self, inp: AttentionInputs, scale: float) -> tuple[Tensor, Tensor | None]:
        if not inp.is_causal:
            kv, z = linear_attention_state(inp.k, inp.v, inp.mask)
            return linear_readout(inp.q, kv, z), None
        acc_t = _acc_dtype(inp.q.dtype)
        heads = inp.q.shape[1]
        grad = _needs_grad(inp.q, inp.k, inp.v)
        fq = elu_feature_map(inp.q.to(acc_t), inplace=not grad)  # (B, H, Tq, D)
        fk = elu_feature_map(inp.k.to(acc_t), inplace=not grad)  # (B, Hkv, Tk, D)
        if inp.mask is not None:
            fk = fk * inp.mask.transpose(-1, -2).to(acc_t)  # absent keys contribute nothing
        num, den = self._causal(fq, _expand_kv(fk, heads), _expand_kv(inp.v.to(acc_t), heads))
        return _linear_normalise(num, den, grad).to(inp.q.dtype), None

    def _causal(self, fq: Tensor, fk: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        b, h, tq, d = fq.shape
        tk, dv = fk.shape[-2], v.shape[-1]
        offset = tk - tq  # bottom-right: query i sits at key position offset + i
        kv = fq.new_zeros((b, h, d, dv))
        z = fq.new_zeros((b, h, 1, d))
        nums: list[Tensor] = []
        dens: list[Tensor] = []
        if offset > 0:  # keys before the first query: visible to all queries
            kv = torch.matmul(fk[..., :offset, :].transpose(-2, -1), v[..., :offset, :])
            z = fk[..., :offset, :].sum(dim=-2, keepdim=True)
            fk, v = fk[..., offset:, :], v[..., offset:, :]
        elif offset < 0:  # queries before the first key see nothing
            nums.append(fq.new_zeros((b, h, -offset, dv)))
            dens.append(fq.new_zeros((b, h, -offset, 1)))
            fq = fq[..., -offset:, :]
        n, blk = fq.shape[-2], self.BLOCK
        tri = torch.ones(blk, blk, dtype=torch.bool, device=fq.device).tril()
        for s in range(0, n, blk):
            e = min(s + blk, n)
            qc, kc, vc = fq[..., s:e, :], fk[..., s:e, :], v[..., s:e, :]
            a = torch.matmul(qc, kc.transpose(-2, -1)).masked_fill(
                ~tri[: e - s, : e - s], 0.0
            )  # (B, H, c, c)
            nums.append(torch.matmul(qc, kv) + torch.matmul(a, vc))
            dens.append((qc * z).sum(dim=-1, keepdim=True) + a.sum(dim=-1, keepdim=True))
            kv = kv + torch.matmul(kc.transpose(-2, -1), vc)
            z = z + kc.sum(dim=-2, keepdim=True)
        return torch.cat(nums, dim=-2), torch.cat(dens, dim=-2)
