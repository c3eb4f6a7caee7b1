#!/usr/bin/env python3
"""PyTorch's fused attention (scaled_dot_product_attention: FlashAttention-2 or cuDNN on an H100/H200) on a CUDA GPU:
the reference for moa-java's tensor-core prefill attention (scripts/gpu-check.sh, step torch-attention).

  python3 scripts/reference/bench_attention_cuda.py --shapes 4096x32x8x64

Each shape is TOKENSxHEADSxKVHEADSxHEAD_DIM as `moa kernels --bench` times ours (prefill-attn-tensor, -rounded): one
causal prompt, dense, GQA (enable_gqa), timed as bench_matmul_cuda.py times torch.matmul (the mean of back-to-back
launches between two CUDA events), in bf16 (what FlashAttention computes: our `--prompt-precision bf16` kernel's
arithmetic) and in float32 (PyTorch's own kernel choice). TFLOP/s counted as ours: 4·head_dim·heads·T(T+1)/2, the
causal half's scores and weighted values. Prints one JSON line per shape and precision.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_matmul_cuda import mean_seconds  # noqa: E402  (the same timing as the GEMM reference)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="4096x32x8x64")
    ap.add_argument("--launches", type=int, default=20)
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only to check the script without a GPU")
    args = ap.parse_args()
    torch.manual_seed(0)
    cuda = args.device == "cuda"
    name = torch.cuda.get_device_name() if cuda else "cpu"
    for shape in args.shapes.split(","):
        tokens, heads, kv_heads, head_dim = (int(v) for v in shape.split("x"))
        flops = 4.0 * head_dim * heads * tokens * (tokens + 1) / 2
        for precision in ("bf16", "f32"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            q = torch.randn(1, heads, tokens, head_dim, device=args.device, dtype=dtype)
            k = torch.randn(1, kv_heads, tokens, head_dim, device=args.device, dtype=dtype)
            v = torch.randn(1, kv_heads, tokens, head_dim, device=args.device, dtype=dtype)

            def attend():
                return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)

            try:
                attend()
            except TypeError:  # before PyTorch 2.5: no enable_gqa; each KV head repeated for its query heads instead
                k = k.repeat_interleave(heads // kv_heads, dim=1)
                v = v.repeat_interleave(heads // kv_heads, dim=1)

                def attend():
                    return F.scaled_dot_product_attention(q, k, v, is_causal=True)

            if cuda:
                seconds = mean_seconds(attend, args.launches)
            else:
                import time
                start = time.perf_counter()
                attend()
                seconds = time.perf_counter() - start
            print(json.dumps({"runtime": "torch.sdpa", "device": name, "precision": precision, "shape": shape,
                              "micros": round(seconds * 1e6, 2), "tflops": round(flops / seconds / 1e12, 3)}), flush=True)


if __name__ == "__main__":
    main()
