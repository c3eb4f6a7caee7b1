#!/usr/bin/env python3
"""Hugging Face transformers on a CUDA GPU: the baseline for moa-java's GPU decode (scripts/gpu-check.sh).

  python3 scripts/reference/bench_hf_cuda.py --model DIR --prompt 128 --gen 128 --batch 1,8,32

Loads DIR (a Hugging Face folder, e.g. the synthetic Llama-3.2-1B-shaped model moa-java writes) in bfloat16 on
the GPU with transformers' default attention (sdpa where torch has it; --attn eager or sdpa to choose) and its
dynamic KV cache (bfloat16), as a user of transformers would, prefills a random prompt per row (after one warm-up
forward: the first is cold) and times greedy decode steps (model forward + argmax, one token per row per step) after
two warm-up steps. Also measures the device-to-device copy bandwidth (read + write bytes). Prints one JSON line per
batch size; the first line names the attention implementation that ran.
"""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM


def copy_bandwidth(nbytes=1 << 31, rounds=10):
    a = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
    b = torch.empty_like(a)
    b.copy_(a)
    best = float("inf")
    for _ in range(rounds):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        b.copy_(a)
        e.record()
        e.synchronize()
        best = min(best, s.elapsed_time(e) / 1e3)
    return 2 * nbytes / best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt", type=int, default=128)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--batch", default="1,8,32")
    ap.add_argument("--attn", choices=["eager", "sdpa"], default=None, help="attention implementation (default: transformers')")
    args = ap.parse_args()
    extra = {} if args.attn is None else {"attn_implementation": args.attn}
    try:
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.bfloat16, **extra).cuda().eval()
    except TypeError:
        model = AutoModelForCausalLM.from_pretrained(args.model, torch_dtype=torch.bfloat16, **extra).cuda().eval()
    vocab = model.config.vocab_size
    bw = copy_bandwidth()
    print(json.dumps({"copy_bandwidth_GBps": round(bw / 1e9, 1), "torch": torch.__version__,
                      "device": torch.cuda.get_device_name(),
                      "attention": getattr(model.config, "_attn_implementation", "unknown")}), flush=True)
    g = torch.Generator(device="cuda").manual_seed(7)
    with torch.inference_mode():  # the first forward pays for kernel selection and caches: not the prefill timed below
        model(input_ids=torch.randint(3, vocab, (1, 16), device="cuda", generator=g), use_cache=True)
        torch.cuda.synchronize()
    for batch in [int(b) for b in args.batch.split(",")]:
        ids = torch.randint(3, vocab, (batch, args.prompt), device="cuda", generator=g)
        with torch.inference_mode():
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            out = model(input_ids=ids, use_cache=True)
            torch.cuda.synchronize()
            prefill = time.perf_counter() - t0
            past = out.past_key_values
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
            steps = 0
            for i in range(args.gen):
                if i == 2:
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                out = model(input_ids=tok, past_key_values=past, use_cache=True)
                past = out.past_key_values
                tok = out.logits[:, -1].argmax(-1, keepdim=True)
                if i >= 2:
                    steps += 1
            torch.cuda.synchronize()
            decode = time.perf_counter() - t0
        print(json.dumps({"batch": batch, "prompt": args.prompt, "prefill_tok_s": round(batch * args.prompt / prefill, 1),
                          "decode_steps": steps, "decode_tok_s": round(batch * steps / decode, 2),
                          "ms_per_step": round(1e3 * decode / steps, 3)}), flush=True)
        del past, out
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
