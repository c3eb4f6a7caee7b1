#!/usr/bin/python3
"""Independent float64 PyTorch forward pass with Hugging Face LlamaForCausalLM semantics.

Covers model_type llama / mistral / qwen2 (q/k/v bias): RMSNorm, rotate-half RoPE (default,
`linear` and `llama3` rope_scaling), GQA, causal softmax attention, SwiGLU MLP, tied or untied
lm_head. Weights are the stored values (F32/BF16/F16) upcast exactly to float64.

Run with Debian's /usr/bin/python3 (the only interpreter with torch here).
"""
import json
import math
import os
import struct

import numpy as np
import torch

from synthetic import decode


# --------------------------------------------------------------------------- loading

def read_safetensors(path: str) -> dict:
    """{name: float32 numpy (exact upcast of the stored values)}."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        out[name] = decode(data[a:b], info["dtype"], info["shape"])
    return out


def load_model_dir(model_dir: str):
    """Returns (config dict, {name: float32 numpy}). Handles model.safetensors.index.json shards."""
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    weights = {}
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        for s in shards:
            weights.update(read_safetensors(os.path.join(model_dir, s)))
    else:
        weights = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return cfg, weights


# --------------------------------------------------------------------------- RoPE

def rope_inv_freq(cfg: dict) -> torch.Tensor:
    """inv_freq (float64, length head_dim/2) including HF rope_scaling (`linear`, `llama3`)."""
    d = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    theta = float(cfg.get("rope_theta", 10000.0))
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).to(torch.float64) / d))
    rs = cfg.get("rope_scaling")
    if rs is None:
        return inv_freq
    rtype = rs.get("rope_type", rs.get("type"))
    if rtype == "default":
        return inv_freq
    if rtype == "linear":
        return inv_freq / float(rs["factor"])
    if rtype == "llama3":
        factor = float(rs["factor"])
        low = float(rs["low_freq_factor"])
        high = float(rs["high_freq_factor"])
        orig = float(rs["original_max_position_embeddings"])
        low_freq_wavelen = orig / low
        high_freq_wavelen = orig / high
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth = (orig / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium, smoothed, inv_freq_llama)
    raise ValueError(f"unsupported rope_scaling {rs}")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


# --------------------------------------------------------------------------- model

class Reference:
    def __init__(self, cfg: dict, weights: dict, dtype=torch.float64):
        self.cfg = cfg
        self.dtype = dtype
        self.w = {k: torch.from_numpy(np.ascontiguousarray(v)).to(dtype) for k, v in weights.items()}
        self.h = cfg["hidden_size"]
        self.nh = cfg["num_attention_heads"]
        self.nkv = cfg.get("num_key_value_heads") or self.nh
        self.hd = cfg.get("head_dim") or self.h // self.nh
        self.eps = float(cfg["rms_norm_eps"])
        self.n_layers = cfg["num_hidden_layers"]
        self.inv_freq = rope_inv_freq(cfg)
        if "lm_head.weight" in self.w and not cfg.get("tie_word_embeddings", False):
            self.lm_head = self.w["lm_head.weight"]
        else:
            self.lm_head = self.w["model.embed_tokens.weight"]
        assert cfg.get("hidden_act", "silu") == "silu"

    def rms_norm(self, x, w):
        var = x.pow(2).mean(-1, keepdim=True)
        return w * (x * torch.rsqrt(var + self.eps))

    def linear(self, x, name):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y if b is None else y + b

    def forward(self, ids, last_only: bool = True) -> torch.Tensor:
        """Logits for positions 0..n-1 (or only the last one), float tensor [n or 1, vocab]."""
        ids = torch.as_tensor(list(ids), dtype=torch.int64)
        n = ids.shape[0]
        x = self.w["model.embed_tokens.weight"][ids]  # [n, h]
        pos = torch.arange(n, dtype=torch.float64)
        freqs = torch.outer(pos, self.inv_freq)  # [n, hd/2]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos().to(self.dtype), emb.sin().to(self.dtype)
        mask = torch.full((n, n), float("-inf"), dtype=self.dtype).triu(1)
        rep = self.nh // self.nkv
        scale = self.hd ** -0.5
        for i in range(self.n_layers):
            p = f"model.layers.{i}."
            r = x
            t = self.rms_norm(x, self.w[p + "input_layernorm.weight"])
            q = self.linear(t, p + "self_attn.q_proj").view(n, self.nh, self.hd).transpose(0, 1)
            k = self.linear(t, p + "self_attn.k_proj").view(n, self.nkv, self.hd).transpose(0, 1)
            v = self.linear(t, p + "self_attn.v_proj").view(n, self.nkv, self.hd).transpose(0, 1)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(rep, dim=0)  # HF repeat_kv: query head j uses kv head j // rep
            v = v.repeat_interleave(rep, dim=0)
            att = (q @ k.transpose(-1, -2)) * scale + mask
            att = torch.softmax(att, dim=-1)
            o = (att @ v).transpose(0, 1).reshape(n, self.nh * self.hd)
            x = r + self.linear(o, p + "self_attn.o_proj")
            r = x
            t = self.rms_norm(x, self.w[p + "post_attention_layernorm.weight"])
            g = self.linear(t, p + "mlp.gate_proj")
            u = self.linear(t, p + "mlp.up_proj")
            x = r + self.linear(torch.nn.functional.silu(g) * u, p + "mlp.down_proj")
        if last_only:
            x = x[-1:]
        x = self.rms_norm(x, self.w["model.norm.weight"])
        return x @ self.lm_head.T

    def greedy(self, prompt, n_new: int):
        """Greedy (argmax, first index on exact ties, no EOS stop), full recompute per step.

        Returns dict(new_ids, first_logits (after prompt), last_logits (before choosing the last new
        token), min_margin (smallest top1-top2 over all n_new steps), margins).
        """
        seq = list(prompt)
        first = last = None
        margins = []
        for step in range(n_new):
            logits = self.forward(seq)[0]
            if step == 0:
                first = logits
            last = logits
            top2 = torch.topk(logits, 2).values
            margins.append(float(top2[0] - top2[1]))
            seq.append(int(torch.argmax(logits)))
        return dict(new_ids=seq[len(prompt):], first_logits=first, last_logits=last,
                    min_margin=min(margins), margins=margins)
