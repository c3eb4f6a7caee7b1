#!/usr/bin/python3
"""Write golden JSONs for the synthetic models (see README.md in this directory).

  /usr/bin/python3 scripts/reference/make_goldens.py [--out tests/src/test/resources/golden] [--model-out DIR]

For every model in synthetic.MODELS and every storage dtype (f32, bf16, f16) writes
<out>/<name>-<dtype>.json. With --model-out DIR also writes the HF model directories
DIR/<name>-<dtype>/{config.json,model.safetensors}.
"""
import argparse
import hashlib
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import synthetic  # noqa: E402
from llama_reference import Reference  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "tests", "src", "test", "resources", "golden")

N_NEW = 32
PROMPTS = {"long": (150, 1000), "short": (5, 2000)}  # name -> (length, base seed)
MIN_MARGIN = 1e-2  # prompt seeds are bumped until every dtype's greedy run stays above this
MAX_TRIES = 50


def prompt_ids(seed: int, length: int, vocab: int):
    rng = random.Random(seed)
    return [rng.randrange(3, vocab) for _ in range(length)]


def floats(t: torch.Tensor):
    return [float(v) for v in t.to(torch.float64)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--model-out", default=None, help="also write the HF model directories here")
    ap.add_argument("--models", nargs="*", default=list(synthetic.MODELS))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.set_num_threads(1)

    for name in a.models:
        built = {dt: synthetic.build(name, dt) for dt in synthetic.DTYPES}
        refs = {dt: Reference(cfg, synthetic.stored_weights_f32(tensors, dt))
                for dt, (cfg, tensors, _) in built.items()}
        vocab = built["f32"][0]["vocab_size"]
        results = {dt: {} for dt in synthetic.DTYPES}
        for pname, (length, base) in PROMPTS.items():
            for attempt in range(MAX_TRIES):
                seed = base + attempt
                ids = prompt_ids(seed, length, vocab)
                runs = {}
                for dt, ref in refs.items():
                    g = ref.greedy(ids, N_NEW)
                    runs[dt] = g
                    if g["min_margin"] < MIN_MARGIN:
                        break
                worst = min(g["min_margin"] for g in runs.values())
                if len(runs) == len(refs) and worst >= MIN_MARGIN:
                    break
                print(f"  {name} {pname}: seed {seed} rejected (min margin {worst:.3g} < {MIN_MARGIN})")
            else:
                raise SystemExit(f"no prompt seed with margin >= {MIN_MARGIN} for {name} {pname}")
            for dt, g in runs.items():
                results[dt][pname] = {
                    "seed": seed,
                    "prompt_ids": ids,
                    "logits": floats(g["first_logits"]),
                    "greedy_new_ids": g["new_ids"],
                    "last_step_logits": floats(g["last_logits"]),
                    "min_margin": g["min_margin"],
                    "min_margin_step": g["margins"].index(g["min_margin"]),
                }
        for dt in synthetic.DTYPES:
            cfg, tensors, sha = built[dt]
            st = synthetic.safetensors_bytes(tensors, dt)
            golden = {
                "model": name,
                "dtype": dt,
                "dir": f"{name}-{dt}",
                "model_seed": synthetic.MODEL_SEED,
                "config": cfg,
                "weights_sha256": sha,
                "safetensors_sha256": hashlib.sha256(st).hexdigest(),
                "reference": "scripts/reference/make_goldens.py (float64 torch %s)" % torch.__version__,
                "n_new": N_NEW,
                "prompts": results[dt],
            }
            path = os.path.join(a.out, f"{name}-{dt}.json")
            with open(path, "w") as f:
                json.dump(golden, f, separators=(",", ":"))
                f.write("\n")
            margins = {p: "%.4g" % r["min_margin"] for p, r in results[dt].items()}
            print(f"{path}: sha256 {sha[:16]}… min margins {margins}")
            if a.model_out:
                synthetic.write_model(a.model_out, name, dt)


if __name__ == "__main__":
    main()
