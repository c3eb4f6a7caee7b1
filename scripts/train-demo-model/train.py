"""Trains moa-java's demo model: a small Llama that writes English and retrieves facts from up to 4096
tokens back, so its heads differ (some local, some long-range) and MoA plans have something to choose.

    /usr/bin/python3 scripts/train-demo-model/train.py            # seeded, resumable; writes models/moa-demo

Checkpoints go to ~/.cache/moa-java/train (or $MOA_HOME/train); re-running resumes from the last one and
ends with the same weights as an uninterrupted run (the data generator's state is checkpointed too).
"""
import argparse
import hashlib
import inspect
import json
import math
import os
import random
import shutil
import struct
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402
from model import Llama  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
    "vocab_size": 2048, "hidden_size": 192, "intermediate_size": 512, "num_hidden_layers": 4,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 24, "max_position_embeddings": 4096,
    "rms_norm_eps": 1e-5, "rope_theta": 50000.0, "tie_word_embeddings": True, "attention_bias": False,
    "bos_token_id": data.BOS, "eos_token_id": data.EOS, "pad_token_id": data.PAD, "torch_dtype": "bfloat16",
}
MIX = {"text": 0.20, "longeval": 0.40, "lookup": 0.12, "passkey": 0.08, "verse": 0.06, "repeat": 0.04, "copy": 0.10}
DRILLS = {"copy": 1.0}
LOOKUP = {"lookup": 0.6, "longeval": 0.2, "copy": 0.1, "text": 0.1}
GAP_DRILLS = {"gap_lookup": 0.85, "copy": 0.15}
LOOKUP_GROWN = {"lookup": 0.4, "gap_lookup": 0.3, "longeval": 0.15, "text": 0.1, "copy": 0.05}
# (steps, sample lengths, task mix). Match-and-copy ("induction") heads, which every retrieval task needs, form
# within a few hundred steps on 32-token copy drills but did not in thousands of steps at 128+ tokens, nor on
# the task mixture alone, nor with "a b a" triples mixed into the drills (the model then predicts the token two
# back with confidence, and copying got worse than chance). The key -> value lookup then needs a head that
# reaches the key from the value, 3-4 tokens back past the record's fixed words; trained on the record's format
# alone it stayed near chance (first digit of the value right 1 in 3 to 1 in 2 after 1000+ steps at 3-15 lines), so the
# lookup drills first put the key right before the value and add the words back one by one (GAP_DRILLS). So: copy
# drills, lookup drills with growing gaps, short records, then the lengths the model must serve.
PHASES = [(1400, [32, 64], DRILLS), (1500, [64, 96, 128], GAP_DRILLS), (1000, [128, 256], LOOKUP_GROWN),
          (600, [256, 512], LOOKUP), (600, [512], MIX), (4000, [1024, 2048], MIX), (2000, [2048, 4096, 4096], MIX)]
TOKENS_PER_STEP = 4096


def phase(step):
    """(sample length, task mix) of a step; the last phase goes on for as many steps as asked."""
    start = 0
    for i, (steps, lengths, mix) in enumerate(PHASES):
        if step < start + steps or i == len(PHASES) - 1:
            return lengths[step % len(lengths)], mix
        start += steps


def learning_rate(step, steps, peak):
    """Warm-up, constant through the drills and short samples (a decaying rate lengthens the plateau before
    induction heads form), then cosine to 10% over the long-sample phases (1024 tokens and more)."""
    warmup, hold = 100, sum(p[0] for p in PHASES if min(p[1]) < 1024)
    if step < warmup:
        return peak * (step + 1) / warmup
    if step < hold:
        return peak
    progress = (step - hold) / max(1, steps - hold)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batch(tasks, rng, length, mix):
    ids, masks, kinds = [], [], []
    for _ in range(max(1, TOKENS_PER_STEP // length)):
        kind = rng.choices(list(mix), weights=list(mix.values()))[0]
        i, m = tasks.sample(kind, length)
        ids.append(i)
        masks.append(m)
        kinds.append(kind)
    return torch.tensor(ids), torch.tensor(masks, dtype=torch.float32), kinds


def per_sample_loss(model, ids, masks):
    """Mean cross-entropy over each sample's supervised next tokens (a text sample and a 5-answer
    retrieval sample weigh the same)."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(ids[:, :-1])
    nll = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:], reduction="none")
    target = masks[:, 1:]
    return (nll * target).sum(1) / target.sum(1).clamp(min=1)


@torch.no_grad()
def answer_accuracy(model, tasks, length, samples):
    """Teacher-forced exact match of whole retrieval answers: every supervised token must be the argmax."""
    correct = 0
    for _ in range(samples):
        ids, mask = tasks.sample("longeval", length)
        ids, mask = torch.tensor([ids]), torch.tensor(mask)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            predicted = model(ids[:, :-1]).argmax(-1)[0]
        # only the first answer: that is the question the evaluation asks
        supervised = mask[1:].nonzero().flatten().tolist()
        first = []
        for s in supervised:
            if first and s != first[-1] + 1:
                break
            first.append(s)
        correct += all(predicted[s] == ids[0, s + 1] for s in first)
    return correct / samples


def cached_merges(work, texts):
    """The BPE merges, learnt once per recipe: merges.json carries a digest of everything they are learnt from
    (corpora, task words, vocabulary size, split regexes, the BPE code), so a changed recipe learns them again."""
    task_texts = data.task_texts(REPO)
    recipe = hashlib.sha256()
    for part in [*texts.values(), *task_texts, str(CONFIG["vocab_size"]), data.WORD.pattern, data.SPLIT,
                 inspect.getsource(data.train_bpe)]:
        recipe.update(part.encode())
        recipe.update(b"\0")
    path = os.path.join(work, "merges.json")
    if os.path.exists(path):
        with open(path) as f:
            cached = json.load(f)
        if isinstance(cached, dict) and cached.get("recipe") == recipe.hexdigest():
            return cached["merges"]
    print("training the BPE tokenizer ...", flush=True)
    merges = data.train_bpe(texts.values(), CONFIG["vocab_size"], task_texts)
    with open(path, "w") as f:
        json.dump({"recipe": recipe.hexdigest(), "merges": merges}, f)
    return merges


def save_checkpoint(path, model, optimiser, step, tasks, rng, history):
    tmp = path + ".tmp"
    torch.save({"model": model.state_dict(), "optimiser": optimiser.state_dict(), "step": step,
                "tokenizer": tasks.tok.digest, "config": CONFIG,
                "tasks_rng": tasks.rng.getstate(), "rng": rng.getstate(), "torch_rng": torch.get_rng_state(),
                "history": history}, tmp)
    os.replace(tmp, path)


def write_safetensors(path, tensors):
    """BF16 safetensors written by hand (8-byte header length, JSON header, raw little-endian data)."""
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        raw = t.detach().to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in blobs:
            f.write(raw)


def tokenizer_golden(tokenizer, tasks):
    """Texts and the ids this pipeline trained on, so the Java tokenizer can be checked against them."""
    cases = [data.render_chat([("user", "Hello there! What is 2+2?")], True),
             "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
             "  Tabs\tand  double  spaces,\n\nnew lines -- and 'quotes' (1234567890) <|eos|> end."]
    rng_state = tasks.rng.getstate()
    tasks.rng.seed(12345)
    for kind in ("longeval", "passkey", "verse", "repeat"):
        ids, _ = tasks.sample(kind, 1024)
        cases.append(tokenizer.decode([i for i in ids if i != data.PAD]))
    tasks.rng.setstate(rng_state)
    return [{"text": text, "ids": tokenizer.encode(text)} for text in cases]


def export(model, tokenizer, out, tasks):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "tokenizer-golden.json"), "w") as f:
        json.dump(tokenizer_golden(tokenizer, tasks), f)
    write_safetensors(os.path.join(out, "model.safetensors"), model.state_dict())
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=1)
    with open(os.path.join(out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": data.BOS, "eos_token_id": data.EOS, "do_sample": False}, f, indent=1)
    tokenizer.save(out, CONFIG["max_position_embeddings"])


def plot(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for kind in sorted({kind for h in history for kind in h["loss"]}):
        points = [(h["step"], h["loss"][kind]) for h in history if kind in h["loss"]]
        if points:
            steps, losses = zip(*points)
            window = 25
            smooth = [sum(losses[max(0, i - window):i + 1]) / len(losses[max(0, i - window):i + 1]) for i in range(len(losses))]
            ax.plot(steps, smooth, label=kind)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss on supervised tokens (moving mean)")
    ax.set_title("moa-demo training")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=sum(p[0] for p in PHASES))
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=20261123)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", default=os.path.join(os.environ.get("MOA_HOME", os.path.expanduser("~/.cache/moa-java")), "train"))
    parser.add_argument("--out", default=os.path.join(REPO, "models", "moa-demo"))
    parser.add_argument("--export-only", action="store_true", help="write --out from the last checkpoint and stop")
    shape = parser.add_argument_group("model shape (experiments; the defaults are the committed model's)")
    for key in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "head_dim"):
        shape.add_argument("--" + key.replace("_", "-"), type=int, default=CONFIG[key])
    args = parser.parse_args()
    committed = dict(CONFIG)  # checkpoints written before they recorded their shape are of this one
    CONFIG.update({key: getattr(args, key) for key in CONFIG if hasattr(args, key)})
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)

    texts = data.load_corpora(os.path.join(args.work, "corpora"))
    tokenizer = data.Tokenizer(cached_merges(args.work, texts))
    assert len(tokenizer) == CONFIG["vocab_size"], len(tokenizer)
    tasks = data.Tasks(tokenizer, texts, REPO, args.seed)
    held_out = data.Tasks(tokenizer, texts, REPO, args.seed + 1)

    model = Llama(CONFIG)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=args.lr, betas=(0.9, 0.95))
    rng = random.Random(args.seed)
    checkpoint = os.path.join(args.work, "checkpoint.pt")
    step, history = 0, []
    if os.path.exists(checkpoint):
        state = torch.load(checkpoint)
        if state.get("tokenizer") != tokenizer.digest:
            sys.exit("%s was trained with another tokenizer than this recipe's; move %s aside to train from scratch"
                     % (checkpoint, args.work))
        trained = state.get("config", committed)
        if trained != CONFIG:
            sys.exit("%s is a model of another shape (%s); pass the same shape options or another --work" % (
                checkpoint, ", ".join("%s %s, not %s" % (k, v, CONFIG.get(k)) for k, v in trained.items() if CONFIG.get(k) != v)))
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        step, history = state["step"], state["history"]
        tasks.rng.setstate(state["tasks_rng"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        print("resumed at step %d" % step, flush=True)
    print("model: %.2fM parameters, %d steps of %d tokens" % (
        sum(p.numel() for p in model.parameters()) / 1e6, args.steps, TOKENS_PER_STEP), flush=True)

    phase_ends = {sum(p[0] for p in PHASES[:i + 1]) for i in range(len(PHASES) - 1)}
    started, first_step = time.time(), step
    while step < args.steps and not args.export_only:
        length, mix = phase(step)
        # Half the lookups on few-word keys once the gap drills are over (the run that measured it started there).
        tasks.few_word_keys = 0.0 if mix in (DRILLS, GAP_DRILLS) else 0.5
        ids, masks, kinds = batch(tasks, rng, length, mix)
        for group in optimiser.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        losses = per_sample_loss(model, ids, masks)
        losses.mean().backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        step += 1
        by_kind = {}
        for kind, loss in zip(kinds, losses.tolist()):
            by_kind.setdefault(kind, []).append(loss)
        record = {"step": step, "length": length, "loss": {k: sum(v) / len(v) for k, v in by_kind.items()}}
        if step % 100 == 0 or step == args.steps:
            record["accuracy"] = {n: answer_accuracy(model, held_out, n, 8) for n in (256, 1024, 4096 if step == args.steps else 2048)}
        history.append(record)
        elapsed = time.time() - started
        eta = elapsed / (step - first_step) * (args.steps - step)
        print("step %4d/%d  len %4d  %s  %s  %.0f s elapsed, ~%.0f min left" % (
            step, args.steps, length, "  ".join("%s %.3f" % kv for kv in sorted(record["loss"].items())),
            record.get("accuracy", ""), elapsed, eta / 60), flush=True)
        if step % 25 == 0 or step == args.steps or step in phase_ends:
            save_checkpoint(checkpoint, model, optimiser, step, tasks, rng, history)
        if step in phase_ends:  # kept, so that a later phase can be changed and re-run from here
            shutil.copy(checkpoint, os.path.join(args.work, "checkpoint-%d.pt" % step))

    export(model, tokenizer, args.out, held_out)
    with open(os.path.join(args.out, "training-history.json"), "w") as f:
        json.dump(history, f)
    plot(history, os.path.join(args.out, "training-loss.png"))
    print("wrote %s" % args.out, flush=True)


if __name__ == "__main__":
    main()
