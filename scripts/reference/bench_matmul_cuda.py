#!/usr/bin/env python3
"""torch.matmul (cuBLAS) on a CUDA GPU: the reference for moa-java's prefill GEMM (scripts/gpu-check.sh).

  python3 scripts/reference/bench_matmul_cuda.py --shapes 512x2048x2048,4096x16384x2048

Each shape is TOKENSxROWSxCOLS as `moa kernels --bench` names it: activations x [tokens, cols] times the weight
matrix w [rows, cols] transposed, out [tokens, rows] (a linear layer's x @ w.T). Timed as `moa kernels --bench` times
ours: 20 launches to warm up, then LAUNCHES back to back between two CUDA events, the mean (one launch between its own
events would add PyTorch's host dispatch, microseconds, to a product that takes a few), for bf16 x bf16 (cuBLAS's tensor-core path, what our GEMM is measured against) and for
float32 activations and weights with TF32 allowed (the nearest cuBLAS has to our F32-activation products).
Prints one JSON line per shape and precision, with TFLOP/s counted as 2·tokens·rows·cols.
"""
import argparse
import json

import torch


def mean_seconds(fn, launches, warmup=20):
    """Seconds per launch, as `moa kernels --bench` times ours: `warmup` launches, then `launches` queued back to back
    between one pair of CUDA events (host dispatch overlaps the GPU's work, as in a model's forward), the mean."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(launches):
        fn()
    e.record()
    e.synchronize()
    return s.elapsed_time(e) / 1e3 / launches


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", default="512x2048x2048,512x16384x2048,4096x2048x2048,4096x16384x2048")
    ap.add_argument("--launches", type=int, default=50)
    args = ap.parse_args()
    torch.manual_seed(0)
    # clocks ramp from idle: half a second of work first
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    start = torch.cuda.Event(enable_timing=True)
    start.record()
    while True:
        a @ a
        end = torch.cuda.Event(enable_timing=True)
        end.record()
        end.synchronize()
        if start.elapsed_time(end) > 500:
            break
    del a
    device = torch.cuda.get_device_name()
    for shape in args.shapes.split(","):
        tokens, rows, cols = (int(v) for v in shape.split("x"))
        flops = 2.0 * tokens * rows * cols
        for precision in ("bf16", "tf32"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            x = torch.randn(tokens, cols, device="cuda", dtype=dtype)
            w = torch.randn(rows, cols, device="cuda", dtype=dtype)
            out = torch.empty(tokens, rows, device="cuda", dtype=dtype)
            seconds = mean_seconds(lambda: torch.matmul(x, w.t(), out=out), args.launches)
            print(json.dumps({"runtime": "torch.matmul", "device": device, "precision": precision, "shape": shape,
                              "micros": round(seconds * 1e6, 2), "tflops": round(flops / seconds / 1e12, 1)}), flush=True)


if __name__ == "__main__":
    main()
