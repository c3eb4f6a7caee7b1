"""Training data for the demo model: English text and long-context retrieval tasks, tokenised with a
byte-level BPE trained here.

Everything is ASCII (the corpora are folded to ASCII first), so the ASCII regex below splits text exactly
as the GPT-2 pattern in tokenizer.json does, and the Java tokenizer reproduces these token ids.
"""
import collections
import hashlib
import json
import math
import os
import random
import re
import subprocess
import unicodedata

SPECIALS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|system|>", "<|user|>", "<|assistant|>"]
PAD, BOS, EOS = 0, 1, 2

# The chat format, rendered by the Jinja template in tokenizer_config.json and by render_chat() below.
CHAT_TEMPLATE = ("{{ bos_token }}{% for message in messages %}"
                 "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|eos|>\\n' }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")

# GPT-2's pre-tokeniser regex, except that "_" joins letters (as in identifiers: REGISTER_CONTENT is one word, so
# 3 tokens instead of 5 separate a LongEval key from the "<" before its value), with \p{L} / \p{N} narrowed to ASCII for the
# Python encoder (the text is ASCII); SPLIT is the same pattern as tokenizer.json writes it.
WORD = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z_]+| ?[0-9]+| ?[^\sA-Za-z0-9_]+|\s+(?!\S)|\s+""")
SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[\p{L}_]+| ?\p{N}+| ?[^\s\p{L}\p{N}_]+|\s+(?!\S)|\s+"""


def byte_alphabet():
    """GPT-2's reversible byte -> printable character map."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {}, 256
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(extra)
            extra += 1
    return table


ALPHABET = byte_alphabet()


# ---------------------------------------------------------------- corpora

ASCII_FOLD = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "--", "\u2013": "-",
              "\u2026": "...", "\u00a0": " ", "\ufeff": ""}


def to_ascii(text):
    text = "".join(ASCII_FOLD.get(c, c) for c in text)
    text = unicodedata.normalize("NFKD", text)
    return text.encode("ascii", "ignore").decode("ascii").replace("\r", "")


def load_corpora(cache):
    """Austen's six novels, Moby Dick and the King James Bible from Debian packages, as ASCII text."""
    os.makedirs(cache, exist_ok=True)
    sources = {
        "austen": ["Rscript", "-e", 'library(janeaustenr); writeLines(austen_books()$text, "OUT")'],
        "moby": ["Rscript", "-e", 'library(tokenizers); data(mobydick); writeLines(mobydick, "OUT")'],
        "kjv": ["sh", "-c", "bible -f Gen1:1-Rev22:21 > OUT"],
    }
    texts = {}
    for name, command in sources.items():
        path = os.path.join(cache, name + ".txt")
        if not os.path.exists(path):
            raw = path + ".raw"
            subprocess.run([c.replace("OUT", raw) for c in command], check=True, stdout=subprocess.DEVNULL)
            with open(raw, encoding="utf-8", errors="replace") as f:
                text = to_ascii(f.read())
            with open(path, "w") as f:
                f.write(text)
            os.remove(raw)
        with open(path) as f:
            texts[name] = f.read()
    # Moby Dick's Gutenberg licence is not English prose worth learning.
    end = texts["moby"].find("End of Project Gutenberg")
    if end > 0:
        texts["moby"] = texts["moby"][:end]
    texts["austen"] = re.sub(r"\n{3,}", "\n\n", texts["austen"])
    return texts


def kjv_verses(text):
    """[(reference, verse text)] from `bible -f` output: one 'Ge1:1 In the beginning ...' per line."""
    verses = []
    for line in text.splitlines():
        ref, _, body = line.partition(" ")
        if body and re.fullmatch(r"[0-9]?[A-Za-z]+[0-9]+:[0-9]+", ref):
            verses.append((ref, body.strip()))
    return verses


# ---------------------------------------------------------------- tokenizer

def train_bpe(texts, vocab_size, task_texts=(), task_weight=2000):
    """Byte-level BPE merges, most frequent pair first (ties by text). Digits never merge, so numbers are
    spelled digit by digit -- that is what lets a small model copy a 5-digit value exactly. Each word of
    `task_texts` counts `task_weight` times, so the prompts' fixed words and every LongEval key word become one
    token each (learnt from the novels alone, REGISTER_CONTENT was 14 tokens and a key 3-8, which put the value
    18+ tokens after its key)."""
    words = collections.Counter()
    for text in texts:
        words.update(WORD.findall(text))
    for text in task_texts:
        for w in WORD.findall(text):
            words[w] += task_weight
    symbols = {w: [ALPHABET[b] for b in w.encode()] for w in words}
    pair_counts = collections.Counter()
    where = collections.defaultdict(set)
    for w, n in words.items():
        s = symbols[w]
        for a, b in zip(s, s[1:]):
            pair_counts[a, b] += n
            where[a, b].add(w)

    def mergeable(pair):
        return not any(c.isdigit() for c in pair[0] + pair[1])

    merges = []
    budget = vocab_size - len(SPECIALS) - 256
    while len(merges) < budget:
        best = max((p for p, n in pair_counts.items() if n >= 2 and mergeable(p)),
                   key=lambda p: (pair_counts[p], p), default=None)
        if best is None:
            break
        merges.append(best)
        merged = best[0] + best[1]
        for w in list(where[best]):
            s, n = symbols[w], words[w]
            for a, b in zip(s, s[1:]):
                pair_counts[a, b] -= n
                where[a, b].discard(w)
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == best[0] and s[i + 1] == best[1]:
                    out.append(merged)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            symbols[w] = out
            for a, b in zip(out, out[1:]):
                pair_counts[a, b] += n
                where[a, b].add(w)
        del pair_counts[best]
    return merges


class Tokenizer:
    """Encodes like the tokenizer.json written by save(): special tokens first, then GPT-2 words, then BPE."""

    def __init__(self, merges):
        self.merges = [tuple(m) for m in merges]
        self.digest = hashlib.sha256(json.dumps(self.merges).encode()).hexdigest()
        self.vocab = {t: i for i, t in enumerate(SPECIALS)}
        for b in range(256):
            self.vocab[ALPHABET[b]] = len(self.vocab)
        for a, b in self.merges:
            self.vocab[a + b] = len(self.vocab)
        self.rank = {m: r for r, m in enumerate(self.merges)}
        self.tokens = {i: t for t, i in self.vocab.items()}
        self.byte_of = {c: b for b, c in ALPHABET.items()}
        self.cache = {}
        self.special_split = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")

    def __len__(self):
        return len(self.vocab)

    def _word(self, word):
        ids = self.cache.get(word)
        if ids is None:
            s = [ALPHABET[b] for b in word.encode()]
            while len(s) > 1:
                ranked = [(self.rank.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(s, s[1:]))]
                r, i = min(ranked)
                if r == 1 << 30:
                    break
                s[i:i + 2] = [s[i] + s[i + 1]]
            ids = [self.vocab[t] for t in s]
            if len(self.cache) < 500_000:
                self.cache[word] = ids
        return ids

    def encode(self, text):
        ids = []
        for piece in self.special_split.split(text):
            if piece in self.vocab and piece in SPECIALS:
                ids.append(self.vocab[piece])
            elif piece:
                for w in WORD.findall(piece):
                    ids.extend(self._word(w))
        return ids

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if t in SPECIALS:
                out.extend(t.encode())
            else:
                out.extend(self.byte_of[c] for c in t)
        return out.decode("utf-8", "replace")

    def save(self, directory, model_max_length):
        added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
                  "normalized": False, "special": True} for i, t in enumerate(SPECIALS)]
        byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
        split = {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Isolated", "invert": False}
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "<|bos|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"<|bos|>": {"id": "<|bos|>", "ids": [BOS], "tokens": ["<|bos|>"]}}}
        tokenizer = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
                     "normalizer": None,
                     "pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, byte_level]}, "post_processor": post,
                     "decoder": byte_level,
                     "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                               "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                               "ignore_merges": False, "vocab": self.vocab,
                               "merges": [a + " " + b for a, b in self.merges]}}
        with open(os.path.join(directory, "tokenizer.json"), "w") as f:
            json.dump(tokenizer, f, ensure_ascii=False)
        config = {"bos_token": "<|bos|>", "eos_token": "<|eos|>", "pad_token": "<|pad|>",
                  "model_max_length": model_max_length, "chat_template": CHAT_TEMPLATE,
                  "tokenizer_class": "PreTrainedTokenizerFast"}
        with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
            json.dump(config, f, indent=1)


def render_chat(messages, add_generation_prompt):
    """Python twin of CHAT_TEMPLATE."""
    text = "<|bos|>" + "".join("<|%s|>\n%s<|eos|>\n" % (role, content) for role, content in messages)
    return text + ("<|assistant|>\n" if add_generation_prompt else "")


# ---------------------------------------------------------------- tasks

def read_words(repo, name):
    path = os.path.join(repo, "runtime/src/main/resources/dev/moa/runtime/eval", name)
    with open(path) as f:
        return [w.strip() for w in f if w.strip()]


def task_texts(repo):
    """The fixed text of the long-context tasks and every LongEval key word, as the prompts spell them."""
    adjectives, nouns = read_words(repo, "longeval-adjectives.txt"), read_words(repo, "longeval-nouns.txt")
    # keys as the record and the question write them, then each word once more on its own
    keys = ["line %s-%s: line %s-%s?" % (a, n, a, n) for a, n in zip(adjectives * 2, nouns * 2)]
    keys += [" " + a for a in adjectives] + nouns
    prompts = [Tasks.LONGEVAL_HEAD, Tasks.LONGEVAL_LINE, Tasks.LONGEVAL_TAIL, Tasks.LONGEVAL_ANSWER, Tasks.PASSKEY_HEAD,
               Tasks.PASSKEY_NEEDLE, Tasks.PASSKEY_ANSWER, Tasks.VERSE_HEAD, Tasks.REPEAT_HEAD]
    return keys + [render_chat([("user", p), ("assistant", p)], True) for p in prompts]


class Tasks:
    """Samples of exactly `length` tokens (padded) with a loss mask: plain text (every token supervised) and
    long-context retrieval tasks in the chat format (only the assistant's answers supervised)."""

    # The LongEval "lines" prompt (moa.md section 6); runtime/.../eval/LongEvalPrompt.java writes the same text.
    LONGEVAL_HEAD = ("Below is a record of lines I want you to remember. Each line begins with 'line <line index>' "
                     "and contains a '<REGISTER_CONTENT>' at the end of the line as a numerical value. For each line "
                     "index, memorize its corresponding <REGISTER_CONTENT>. At the end of the record, I will ask you to "
                     "retrieve the corresponding <REGISTER_CONTENT> of a certain line index. Now the record start:\n\n")
    RECORD_GAP = ": REGISTER_CONTENT is "  # between a record line's key and its value
    LONGEVAL_LINE = "line {key}" + RECORD_GAP + "<{value}>\n"
    LONGEVAL_QUESTION = "Tell me what is the <REGISTER_CONTENT> in line {key}? I need the number."
    LONGEVAL_TAIL = "\nNow the record is over. " + LONGEVAL_QUESTION
    # The answer restates the record's line after the question's words: from "in line KEY" on, the tokens before the
    # value are exactly those before it in the record, so finding the value is one match of a fixed-offset context
    # (the grader reads the last integer of the answer, whatever words surround it).
    LONGEVAL_ANSWER = "The <REGISTER_CONTENT> in line {key}: REGISTER_CONTENT is <{value}>."

    PASSKEY_HEAD = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
                    "I will quiz you about the important information there.\n\n")
    PASSKEY_NEEDLE = " The pass key is {key}. Remember it. {key} is the pass key. "
    PASSKEY_QUESTION = "What is the pass key?"
    PASSKEY_ANSWER = "The pass key is {key}."
    VERSE_HEAD = "Below are verses of the King James Bible.\n\n"
    VERSE_QUESTION = "Quote verse {ref}."
    REPEAT_HEAD = "Repeat this text exactly:\n\n"

    def __init__(self, tokenizer, texts, repo, seed):
        self.tok = tokenizer
        self.rng = random.Random(seed)
        self.few_word_keys = 0.0  # share of lookup samples whose keys share words (see lookup)
        self.adjectives = read_words(repo, "longeval-adjectives.txt")
        self.nouns = read_words(repo, "longeval-nouns.txt")
        self.verses = kjv_verses(texts["kjv"])
        # Plain-text streams, tokenised once.
        self.streams = {name: tokenizer.encode(texts[name]) for name in texts}
        self.line_tokens = len(tokenizer.encode(self.LONGEVAL_LINE.format(key="brave-tiger", value=12345)))
        # the chat turns, instructions and question around a record, and the answer (with its end of turn)
        answer = len(tokenizer.encode(self.LONGEVAL_ANSWER.format(key="brave-tiger", value=12345) + "<|eos|>\n"))
        self.tail_tokens = answer + len(tokenizer.encode(render_chat([("user", self.LONGEVAL_TAIL.format(key="brave-tiger"))], True)))
        self.head_tokens = self.tail_tokens + len(tokenizer.encode(self.LONGEVAL_HEAD))

    def sample(self, kind, length):
        ids, mask = getattr(self, kind)(length)
        ids, mask = ids[:length], mask[:length]
        pad = length - len(ids)
        return ids + [PAD] * pad, mask + [0] * pad

    def text(self, length):
        name = self.rng.choices(["austen", "moby", "kjv"], weights=[5, 2, 2])[0]
        stream = self.streams[name]
        start = self.rng.randrange(0, len(stream) - length)
        ids = [BOS] + stream[start:start + length - 1]
        return ids, [1] * len(ids)

    def _dialogue(self, first_user, qa_pairs, length):
        """A record in the first user turn, then answer/question turns while they fit in `length`."""
        ids = self.tok.encode(render_chat([("user", first_user)], True))
        mask = [0] * len(ids)
        for i, (question, answer) in enumerate(qa_pairs):
            if i > 0:
                q = self.tok.encode("<|user|>\n" + question + "<|eos|>\n<|assistant|>\n")
                ids += q
                mask += [0] * len(q)
            a = self.tok.encode(answer + "<|eos|>\n")
            if len(ids) + len(a) > length:
                break
            ids += a
            mask += [1] * (len(a) - 1) + [0]  # the newline after <|eos|> is never generated
        return ids, mask

    def _distinct_keys(self, n, adjectives=None, nouns=None):
        """n different adjective-noun keys in the order drawn (a set's order would change with Python's per-process
        string hashing, and with it the samples: runs were not reproducible)."""
        adjectives, nouns = adjectives or self.adjectives, nouns or self.nouns
        keys = {}
        while len(keys) < n:
            keys[self.rng.choice(adjectives) + "-" + self.rng.choice(nouns)] = None
        return list(keys)

    def longeval(self, length):
        """LongEval records filled to `length`, 1-6 questions. Below 1024 tokens the 200-token instructions are
        left out, so that short samples still hold several lines to choose from."""
        head = self.LONGEVAL_HEAD if length >= 1024 else ""
        questions = self.rng.randint(1, 2) if length <= 512 else self.rng.randint(2, 6)
        budget = length - (self.head_tokens if head else self.tail_tokens) - 75 * (questions - 1)
        lines = max(2, int(budget / (1.1 * self.line_tokens)))  # keys vary in length: keep the answers inside
        keys = self._distinct_keys(lines)
        values = [self.rng.randint(1, 50000) for _ in keys]
        record = "".join(self.LONGEVAL_LINE.format(key=k, value=v) for k, v in zip(keys, values))
        asked = self.rng.sample(range(len(keys)), min(questions, len(keys)))
        qa = [(self.LONGEVAL_QUESTION.format(key=keys[i]), self.LONGEVAL_ANSWER.format(key=keys[i], value=values[i]))
              for i in asked]
        first = head + record + self.LONGEVAL_TAIL.format(key=keys[asked[0]])
        return self._dialogue(first, qa, length)

    def lookup(self, length, separator=RECORD_GAP):
        """A LongEval record without instructions (about half the sample), then lines of it restated in random order
        with only their values supervised: a dozen key -> value lookups per sample instead of one or two, each the
        exact step an answer ends with ("... in line KEY: REGISTER_CONTENT is <" -> the value). With answers alone
        the lookup was learnt for 3 lines but not for 10 (first digit right 1 in 4 at 256 tokens after 1600 steps).
        In a share of the samples (few_word_keys) the keys are drawn from a few words (ceil(sqrt(1.5 x lines))
        adjectives and as many nouns, each key sharing a word with several lines): trained on ordinary keys alone,
        the model matched the two words of a key one by one (17 of 140 values right at 1024 tokens on few-word keys
        against 119 of 158 on ordinary ones), and a long LongEval record holds several lines sharing a word with the
        asked key. Added from the end of the gap drills on (step 2900): at 512 tokens, ordinary / few-word keys,
        66 / 14 values right against 52 / 6 without at step 4500 (of 76 / 65), 57 / 16 against 55 / 9 at step 5100."""
        lines = max(2, int(length * 0.5 / self.line_tokens))
        few = self.few_word_keys and self.rng.random() < self.few_word_keys  # no draw when 0: older runs stay exact
        words = math.ceil(math.sqrt(1.5 * lines)) if few else None
        keys = self._distinct_keys(lines, words and self.rng.sample(self.adjectives, words),
                                   words and self.rng.sample(self.nouns, words))
        values = [self.rng.randint(1, 50000) for _ in keys]
        ids = [BOS] + self.tok.encode("".join("line %s%s<%d>\n" % (k, separator, v) for k, v in zip(keys, values)))
        mask = [0] * len(ids)
        while len(ids) < length:
            i = self.rng.randrange(lines)
            question = self.tok.encode("line %s%s<" % (keys[i], separator))
            answer = self.tok.encode("%d>\n" % values[i])
            ids += question + answer
            mask += [0] * len(question) + [1] * len(answer)
        return ids, mask

    # From the key to its value: none, then more and more of the record's words in between.
    GAPS = [" ", ": ", ": is ", RECORD_GAP]

    def gap_lookup(self, length):
        """lookup() with a random number of words between key and value. In the record's format the key's last word is
        4 tokens before "<" (6 while REGISTER_CONTENT was 3 tokens); a model trained on that alone kept heads at fixed
        offsets that never reached the key (3 lines at 128 tokens: first digit right 1 in 2 after 700 steps). With the key right before the
        value the match is one step, and the longer gaps teach it to find the key wherever it is."""
        return self.lookup(length, self.rng.choice(self.GAPS))

    def passkey(self, length):
        key = self.rng.randint(10000, 99999)
        needle = self.PASSKEY_NEEDLE.format(key=key)
        stream = self.streams[self.rng.choice(["austen", "moby"])]
        filler_tokens = length - 160
        start = self.rng.randrange(0, len(stream) - filler_tokens)
        filler = self.tok.decode(stream[start:start + filler_tokens])
        cut = filler.rfind(" ", 0, self.rng.randrange(1, max(2, len(filler))))
        cut = max(cut, 0)
        prompt = self.PASSKEY_HEAD + filler[:cut] + needle + filler[cut:] + "\n\n" + self.PASSKEY_QUESTION
        return self._dialogue(prompt, [(self.PASSKEY_QUESTION, self.PASSKEY_ANSWER.format(key=key))], length)

    def copy(self, length):
        """Random token strings, each followed by itself, the copies supervised (not their first token, which
        nothing predicts): the plainest signal for the induction (match-and-copy) heads that retrieval is built
        from. Strings scale with the sample: at 32 tokens (3-10 per string) the match is found among few
        positions and the heads form within a few hundred steps; at 128+ tokens from scratch they did not form in
        thousands."""
        longest = max(4, min(64, length // 3))
        ids, mask = [BOS], [0]
        while len(ids) < length:
            span = self.rng.randint(min(8, longest // 2) if length > 64 else 3, longest)
            tokens = [self.rng.randrange(len(SPECIALS), len(self.tok)) for _ in range(span)]
            ids += tokens + tokens
            mask += [0] * span + [0] + [1] * (span - 1)
        return ids, mask

    def repeat(self, length):
        """Copy a passage: the densest signal for the copying (induction) heads that retrieval builds on."""
        stream = self.streams[self.rng.choice(["austen", "moby", "kjv"])]
        span = self.rng.randint(32, max(33, min(400, length // 2 - 40)))
        start = self.rng.randrange(0, len(stream) - span)
        passage = self.tok.decode(stream[start:start + span]).strip()
        return self._dialogue(self.REPEAT_HEAD + passage, [("", passage)], length)

    def verse(self, length):
        count = max(4, (length - 120) // 40)
        start = self.rng.randrange(0, len(self.verses) - count)
        block = self.verses[start:start + count]
        text = "".join("%s %s\n" % v for v in block)
        while len(self.tok.encode(text)) > length - 160 and len(block) > 4:
            block = block[:int(len(block) * 0.9)]
            text = "".join("%s %s\n" % v for v in block)
        asked = self.rng.sample(block, min(3, len(block)))
        qa = [(self.VERSE_QUESTION.format(ref=ref), body) for ref, body in asked]
        prompt = self.VERSE_HEAD + text + "\n" + qa[0][0]
        return self._dialogue(prompt, qa, length)
