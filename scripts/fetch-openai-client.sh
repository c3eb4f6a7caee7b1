#!/usr/bin/env bash
# Installs the official OpenAI Node client (npm openai, pinned) that the server tests drive `moa serve` with, into a
# cache outside the repo (never committed): ${MOA_TEST_ASSETS:-$HOME/.cache/moa-java/test-assets}/openai-node.
# Needs node and npm (the CI machine has Node.js 20). Idempotent.
set -euo pipefail
OPENAI_VERSION=6.30.1
dir="${MOA_TEST_ASSETS:-$HOME/.cache/moa-java/test-assets}/openai-node"
if [ -f "$dir/node_modules/openai/package.json" ] && grep -q "\"version\": \"$OPENAI_VERSION\"" "$dir/node_modules/openai/package.json"; then
  exit 0
fi
command -v npm >/dev/null || { echo "[fetch-openai-client] npm not found: install Node.js to run the server's client tests" >&2; exit 1; }
mkdir -p "$dir"
echo "[fetch-openai-client] npm install openai@$OPENAI_VERSION into $dir" >&2
(cd "$dir" && npm install --no-audit --no-fund --no-save --silent "openai@$OPENAI_VERSION" >&2)
