#!/usr/bin/python3
"""Deterministic tiny Llama-family models in real Hugging Face layout.

The exact generation spec is in scripts/reference/README.md; the Java side
re-implements it and must produce byte-identical tensors. numpy only (no torch).

Run with Debian's /usr/bin/python3.
"""
import hashlib
import json
import math
import os
import struct

import numpy as np

MODEL_SEED = 20261123
DTYPES = ("f32", "bf16", "f16")
TORCH_DTYPE_NAME = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}
SAFETENSORS_DTYPE = {"f32": "F32", "bf16": "BF16", "f16": "F16"}

MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & MASK64
    return h


def splitmix_uniform(seed: int, n: int) -> np.ndarray:
    """n float32 values u_i in [-1, 1), i = 0..n-1, from SplitMix64 seeded with `seed`."""
    idx = np.arange(1, n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed & MASK64) + idx * np.uint64(GOLDEN_GAMMA)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    top24 = (z >> np.uint64(40)).astype(np.float32)  # exact: < 2^24
    return top24 * np.float32(2.0 ** -23) - np.float32(1.0)  # exact in float32


def tensor_uniform(name: str, shape, model_seed: int = MODEL_SEED) -> np.ndarray:
    seed = model_seed ^ fnv1a64(name.encode("utf-8"))
    n = int(np.prod(shape))
    return splitmix_uniform(seed, n).reshape(shape)


# --------------------------------------------------------------------------- models

MODELS = {
    "llama3-gqa": dict(
        model_type="llama", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        intermediate_size=160, num_hidden_layers=2, vocab_size=384, rope_theta=500000.0,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                      "original_max_position_embeddings": 64},
        rms_norm_eps=1e-5, tie_word_embeddings=False),
    "llama2-mha": dict(
        model_type="llama", hidden_size=64, num_attention_heads=4, num_key_value_heads=4, head_dim=16,
        intermediate_size=172, num_hidden_layers=2, vocab_size=320, rope_theta=10000.0, rope_scaling=None,
        rms_norm_eps=1e-6, tie_word_embeddings=False),
    "llama-linear": dict(
        model_type="llama", hidden_size=48, num_attention_heads=3, num_key_value_heads=1, head_dim=16,
        intermediate_size=96, num_hidden_layers=2, vocab_size=300, rope_theta=10000.0,
        rope_scaling={"type": "linear", "factor": 4.0}, rms_norm_eps=1e-5, tie_word_embeddings=True),
    "mistral-gqa": dict(
        model_type="mistral", hidden_size=64, num_attention_heads=4, num_key_value_heads=1, head_dim=24,
        intermediate_size=128, num_hidden_layers=3, vocab_size=352, rope_theta=1000000.0, rope_scaling=None,
        sliding_window=None, rms_norm_eps=1e-5, tie_word_embeddings=False),
    "qwen2-bias": dict(
        model_type="qwen2", hidden_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        intermediate_size=144, num_hidden_layers=2, vocab_size=400, rope_theta=1000000.0, rope_scaling=None,
        rms_norm_eps=1e-6, tie_word_embeddings=True),
}

ARCHITECTURE = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM"}


def make_config(name: str, dtype: str) -> dict:
    m = MODELS[name]
    cfg = {
        "architectures": [ARCHITECTURE[m["model_type"]]],
        "model_type": m["model_type"],
        "hidden_size": m["hidden_size"],
        "intermediate_size": m["intermediate_size"],
        "num_hidden_layers": m["num_hidden_layers"],
        "num_attention_heads": m["num_attention_heads"],
        "num_key_value_heads": m["num_key_value_heads"],
        "head_dim": m["head_dim"],
        "rms_norm_eps": m["rms_norm_eps"],
        "rope_theta": m["rope_theta"],
        "rope_scaling": m["rope_scaling"],
        "max_position_embeddings": 1024,
        "vocab_size": m["vocab_size"],
        "tie_word_embeddings": m["tie_word_embeddings"],
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": TORCH_DTYPE_NAME[dtype],
        "hidden_act": "silu",
    }
    if m["model_type"] == "llama":
        cfg["attention_bias"] = False
        cfg["mlp_bias"] = False
    if m["model_type"] == "mistral":
        cfg["sliding_window"] = m["sliding_window"]
    if m["model_type"] == "qwen2":
        cfg["use_sliding_window"] = False
        cfg["sliding_window"] = None
    return cfg


def tensor_specs(cfg: dict):
    """[(name, shape, kind)] in sorted-name order. kind: linear | embed | norm | bias."""
    h, inter = cfg["hidden_size"], cfg["intermediate_size"]
    nh, nkv, hd = cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    v = cfg["vocab_size"]
    specs = [("model.embed_tokens.weight", (v, h), "embed"), ("model.norm.weight", (h,), "norm")]
    if not cfg["tie_word_embeddings"]:
        specs.append(("lm_head.weight", (v, h), "linear"))
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        specs += [
            (p + "input_layernorm.weight", (h,), "norm"),
            (p + "post_attention_layernorm.weight", (h,), "norm"),
            (p + "self_attn.q_proj.weight", (nh * hd, h), "linear"),
            (p + "self_attn.k_proj.weight", (nkv * hd, h), "linear"),
            (p + "self_attn.v_proj.weight", (nkv * hd, h), "linear"),
            (p + "self_attn.o_proj.weight", (h, nh * hd), "linear"),
            (p + "mlp.gate_proj.weight", (inter, h), "linear"),
            (p + "mlp.up_proj.weight", (inter, h), "linear"),
            (p + "mlp.down_proj.weight", (h, inter), "linear"),
        ]
        if cfg["model_type"] == "qwen2":
            specs += [
                (p + "self_attn.q_proj.bias", (nh * hd,), "bias"),
                (p + "self_attn.k_proj.bias", (nkv * hd,), "bias"),
                (p + "self_attn.v_proj.bias", (nkv * hd,), "bias"),
            ]
    specs.sort(key=lambda s: s[0].encode("utf-8"))
    return specs


def make_f32(name: str, shape, kind: str, model_seed: int = MODEL_SEED) -> np.ndarray:
    u = tensor_uniform(name, shape, model_seed)
    if kind == "embed":
        return u
    if kind == "linear":
        scale = np.float32(1.0 / math.sqrt(shape[1]))
        return (u * scale).astype(np.float32)
    if kind == "norm":
        return (u * np.float32(0.25)) + np.float32(1.0)
    if kind == "bias":
        return u * np.float32(0.125)
    raise ValueError(kind)


def f32_to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """Round-to-nearest-even float32 -> bfloat16 bits (uint16). Inputs are finite."""
    b = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    rounded = (b + np.uint64(0x7FFF) + ((b >> np.uint64(16)) & np.uint64(1))) >> np.uint64(16)
    return rounded.astype(np.uint16)


def bf16_bits_to_f32(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def encode(x32: np.ndarray, dtype: str) -> bytes:
    """Stored little-endian bytes for a float32 tensor in the given storage dtype."""
    if dtype == "f32":
        return x32.astype("<f4").tobytes()
    if dtype == "bf16":
        return f32_to_bf16_bits(x32).astype("<u2").tobytes()
    if dtype == "f16":
        return x32.astype("<f2").tobytes()
    raise ValueError(dtype)


def decode(raw: bytes, st_dtype: str, shape) -> np.ndarray:
    """safetensors raw bytes -> float32 numpy (exact upcast)."""
    if st_dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    elif st_dtype == "BF16":
        a = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2"))
    elif st_dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2").astype(np.float32)
    elif st_dtype == "F64":
        a = np.frombuffer(raw, dtype="<f8")
    else:
        raise ValueError(f"unsupported safetensors dtype {st_dtype}")
    return a.reshape(shape)


def build(name: str, dtype: str, model_seed: int = MODEL_SEED):
    """Returns (config, [(tensor_name, shape, raw_bytes)] sorted by name, weights_sha256 hex)."""
    cfg = make_config(name, dtype)
    tensors = []
    sha = hashlib.sha256()
    for tname, shape, kind in tensor_specs(cfg):
        raw = encode(make_f32(tname, shape, kind, model_seed), dtype)
        sha.update(raw)
        tensors.append((tname, shape, raw))
    return cfg, tensors, sha.hexdigest()


def safetensors_bytes(tensors, dtype: str) -> bytes:
    header = {"__metadata__": {"format": "pt"}}
    off = 0
    for tname, shape, raw in tensors:
        header[tname] = {"dtype": SAFETENSORS_DTYPE[dtype], "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((8 - len(hjson) % 8) % 8)  # pad with spaces to a multiple of 8 bytes
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(raw for _, _, raw in tensors)


def write_model(out_dir: str, name: str, dtype: str, model_seed: int = MODEL_SEED) -> str:
    cfg, tensors, sha = build(name, dtype, model_seed)
    d = os.path.join(out_dir, f"{name}-{dtype}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(safetensors_bytes(tensors, dtype))
    return d


def stored_weights_f32(tensors, dtype: str) -> dict:
    """{name: float32 numpy} of the stored (rounded) values."""
    return {n: decode(raw, SAFETENSORS_DTYPE[dtype], shape) for n, shape, raw in tensors}


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="write synthetic HF-layout models")
    ap.add_argument("out", help="output directory (one sub-directory per model)")
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--dtypes", nargs="*", default=list(DTYPES))
    a = ap.parse_args()
    for n in a.models:
        for dt in a.dtypes:
            print(write_model(a.out, n, dt), build(n, dt)[2])
