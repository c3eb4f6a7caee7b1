#!/usr/bin/python3
"""Print last-position logits of an HF-layout model dir as JSON: {"logits": [...]}.

  /usr/bin/python3 scripts/reference/logits.py --model DIR --tokens "1 2 3" [--precision float32] [--top 5]

Loads config.json + model.safetensors or sharded model.safetensors.index.json (F32/BF16/F16),
runs the float64 (default) reference forward over the whole token sequence.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

from llama_reference import Reference, load_model_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True, help='space- or comma-separated token ids, e.g. "1 2 3"')
    ap.add_argument("--precision", choices=["float64", "float32"], default="float64")
    ap.add_argument("--top", type=int, default=0, help="also print the top-K (id, logit) pairs")
    a = ap.parse_args()
    ids = [int(t) for t in a.tokens.replace(",", " ").split()]
    cfg, weights = load_model_dir(a.model)
    ref = Reference(cfg, weights, dtype=getattr(torch, a.precision))
    logits = ref.forward(ids)[0].to(torch.float64)
    out = {"logits": [float(v) for v in logits]}
    if a.top:
        vals, idx = torch.topk(logits, a.top)
        out["top"] = [[int(i), float(v)] for v, i in zip(vals, idx)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
