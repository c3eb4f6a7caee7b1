#!/usr/bin/python3
"""PyTorch CPU baseline: Llama-3.2-1B-shaped model, random weights, prefill + KV-cache decode.

  /usr/bin/python3 scripts/reference/bench_torch.py --dtype bf16 --threads 2 --prompt 512 --gen 32

Weights are stored in --dtype and the compute runs in that dtype too (PyTorch's native CPU
path for bf16: mkldnn/oneDNN matmuls); RMSNorm statistics and softmax are computed in float32
as in HF. Prefill runs the whole prompt as one chunk and computes lm_head only for the last
position; decode feeds one token per step (greedy argmax) against a preallocated KV cache.
With --repeat R the timed round runs R times; prefill/decode numbers are the best
(min time) round, medians and all times are included. Prints one JSON line.
"""
import argparse
import json
import math
import os
import platform
import resource
import sys
import time

import torch

CFG = dict(hidden=2048, intermediate=8192, layers=16, heads=32, kv_heads=8, head_dim=64, vocab=128256,
           theta=500000.0, factor=32.0, low=1.0, high=4.0, orig=8192, eps=1e-5)


def llama3_inv_freq(c):
    d = c["head_dim"]
    inv = 1.0 / (c["theta"] ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
    low_wl, high_wl = c["orig"] / c["low"], c["orig"] / c["high"]
    wl = 2 * math.pi / inv
    inv_l = torch.where(wl > low_wl, inv / c["factor"], inv)
    smooth = (c["orig"] / wl - c["low"]) / (c["high"] - c["low"])
    smoothed = (1 - smooth) * inv_l / c["factor"] + smooth * inv_l
    medium = ~(wl < high_wl) * ~(wl > low_wl)
    return torch.where(medium, smoothed, inv_l)


class Model:
    def __init__(self, c, dtype, max_len, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.c, self.dtype = c, dtype
        h, i, nh, nkv, hd = c["hidden"], c["intermediate"], c["heads"], c["kv_heads"], c["head_dim"]

        def lin(out, inp):
            a = 1.0 / math.sqrt(inp)
            return torch.empty(out, inp, dtype=dtype).uniform_(-a, a, generator=g)

        def norm(n):
            return torch.empty(n, dtype=dtype).uniform_(0.75, 1.25, generator=g)

        self.embed = torch.empty(c["vocab"], h, dtype=dtype).uniform_(-0.05, 0.05, generator=g)  # tied lm_head
        self.layers = []
        for _ in range(c["layers"]):
            self.layers.append(dict(
                ln1=norm(h), q=lin(nh * hd, h), k=lin(nkv * hd, h), v=lin(nkv * hd, h), o=lin(h, nh * hd),
                ln2=norm(h), gate=lin(i, h), up=lin(i, h), down=lin(h, i)))
        self.norm = norm(h)
        self.n_params = sum(t.numel() for L in self.layers for t in L.values()) + self.embed.numel() + h
        inv = llama3_inv_freq(c)
        freqs = torch.outer(torch.arange(max_len, dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos().to(dtype), emb.sin().to(dtype)
        self.k_cache = torch.zeros(c["layers"], nkv, max_len, hd, dtype=dtype)
        self.v_cache = torch.zeros(c["layers"], nkv, max_len, hd, dtype=dtype)

    def rms(self, x, w):
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.c["eps"])
        return w * x32.to(self.dtype)

    @staticmethod
    def rope(x, cos, sin):
        h = x.shape[-1] // 2
        return x * cos + torch.cat((-x[..., h:], x[..., :h]), dim=-1) * sin

    def forward(self, ids, pos):
        """ids: 1-D LongTensor of T tokens at positions pos..pos+T-1; returns last-position logits."""
        c = self.c
        nh, nkv, hd = c["heads"], c["kv_heads"], c["head_dim"]
        rep = nh // nkv
        T = ids.shape[0]
        end = pos + T
        x = self.embed[ids]  # [T, h]
        cos, sin = self.cos[pos:end], self.sin[pos:end]
        mask = None
        if T > 1:
            mask = torch.full((T, end), float("-inf")).triu(pos + 1)  # float32, key j > pos+i masked
        F = torch.nn.functional
        for li, L in enumerate(self.layers):
            t = self.rms(x, L["ln1"])
            q = F.linear(t, L["q"]).view(T, nh, hd).transpose(0, 1)
            k = F.linear(t, L["k"]).view(T, nkv, hd).transpose(0, 1)
            v = F.linear(t, L["v"]).view(T, nkv, hd).transpose(0, 1)
            q = self.rope(q, cos, sin)
            self.k_cache[li, :, pos:end] = self.rope(k, cos, sin)
            self.v_cache[li, :, pos:end] = v
            K = self.k_cache[li, :, :end]  # [nkv, end, hd]
            V = self.v_cache[li, :, :end]
            qg = q.reshape(nkv, rep * T, hd)  # query heads j*rep..j*rep+rep-1 share kv head j
            s = (qg @ K.transpose(1, 2)).float().view(nkv, rep, T, end) * (hd ** -0.5)
            if mask is not None:
                s = s + mask
            p = torch.softmax(s, dim=-1).to(self.dtype).view(nkv, rep * T, end)
            o = (p @ V).view(nh, T, hd).transpose(0, 1).reshape(T, nh * hd)
            x = x + F.linear(o, L["o"])
            t = self.rms(x, L["ln2"])
            x = x + F.linear(F.silu(F.linear(t, L["gate"])) * F.linear(t, L["up"]), L["down"])
        x = self.rms(x[-1:], self.norm)
        return F.linear(x, self.embed)[0].float()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt", type=int, default=512, help="prefill tokens P")
    ap.add_argument("--gen", type=int, default=32, help="decode steps G")
    ap.add_argument("--warmup-prompt", type=int, default=32)
    ap.add_argument("--warmup-gen", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=1, help="timed prefill+decode rounds; best and median reported")
    ap.add_argument("--layers", type=int, default=CFG["layers"], help="override (for quick smoke tests)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[a.dtype]
    c = dict(CFG, layers=a.layers)
    t0 = time.perf_counter()
    with torch.inference_mode():
        m = Model(c, dtype, max_len=a.prompt + a.gen + 1)
        build_s = time.perf_counter() - t0
        gen = torch.Generator().manual_seed(1)
        prompt = torch.randint(3, c["vocab"], (a.prompt,), generator=gen)

        # warm-up: short prefill + a few decode steps (cache is overwritten by the real run)
        lg = m.forward(prompt[:a.warmup_prompt], 0)
        for s in range(a.warmup_gen):
            lg = m.forward(torch.argmax(lg).view(1), a.warmup_prompt + s)

        prefill_times, decode_times = [], []
        for _ in range(a.repeat):
            t1 = time.perf_counter()
            lg = m.forward(prompt, 0)
            t2 = time.perf_counter()
            nxt = torch.argmax(lg).view(1)
            out_ids = [int(nxt)]
            t3 = time.perf_counter()
            for s in range(a.gen):
                lg = m.forward(nxt, a.prompt + s)
                nxt = torch.argmax(lg).view(1)
                out_ids.append(int(nxt))
            t4 = time.perf_counter()
            prefill_times.append(t2 - t1)
            decode_times.append(t4 - t3)
    prefill_s, decode_s = min(prefill_times), min(decode_times)
    med = lambda v: sorted(v)[len(v) // 2]  # noqa: E731
    print(json.dumps(dict(
        bench="torch-cpu", torch=torch.__version__, dtype=a.dtype, threads=a.threads, layers=c["layers"],
        params=m.n_params, prompt_tokens=a.prompt, gen_tokens=a.gen,
        prefill_s=round(prefill_s, 3), prefill_tok_s=round(a.prompt / prefill_s, 3),
        decode_s=round(decode_s, 3), decode_tok_s=round(a.gen / decode_s, 3),
        decode_ms_per_token=round(1000 * decode_s / a.gen, 2), repeat=a.repeat,
        prefill_tok_s_median=round(a.prompt / med(prefill_times), 3), decode_tok_s_median=round(a.gen / med(decode_times), 3),
        prefill_s_all=[round(t, 3) for t in prefill_times], decode_s_all=[round(t, 3) for t in decode_times],
        load_avg_1m=os.getloadavg()[0], build_s=round(build_s, 1),
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        machine=platform.machine(), cpus=os.cpu_count(), first_ids=out_ids[:4])))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
