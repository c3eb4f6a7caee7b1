#!/usr/bin/env bash
# Extracts llama.cpp's real chat templates (models/templates/*.jinja, 70 files) for the chat-template
# tests in loader/src/test/java/dev/moa/loader/chat, into a cache outside the repo (never committed):
#   ${MOA_TEST_ASSETS:-$HOME/.cache/moa-java/test-assets}/llama.cpp/models/templates
# Source: npm node-llama-cpp@3.22.1, which ships llama.cpp's source as a git bundle.
# Idempotent: skipped when the templates are present; reuses the tarball that scripts/fetch-test-assets.sh
# caches in $ASSETS/downloads (and downloads it there otherwise, so that script reuses it too).
set -euo pipefail

VERSION=3.22.1
ASSETS="${MOA_TEST_ASSETS:-$HOME/.cache/moa-java/test-assets}"
TEMPLATES="$ASSETS/llama.cpp/models/templates"
log() { echo "[fetch-chat-templates] $*" >&2; }

if compgen -G "$TEMPLATES/*.jinja" > /dev/null; then
  log "present: $TEMPLATES"
  exit 0
fi

mkdir -p "$ASSETS/downloads"
TGZ="$ASSETS/downloads/node-llama-cpp-$VERSION.tgz"
if [ ! -s "$TGZ" ] && [ -s "$ASSETS/node-llama-cpp-$VERSION.tgz" ]; then
  TGZ="$ASSETS/node-llama-cpp-$VERSION.tgz"  # left by an earlier version of this script
fi
if [ ! -s "$TGZ" ]; then
  log "npm pack node-llama-cpp@$VERSION"
  tmp="$(mktemp -d "$ASSETS/downloads/.pack.XXXXXX")"
  (cd "$tmp" && npm pack --silent "node-llama-cpp@$VERSION" > /dev/null)
  mv "$tmp"/*.tgz "$TGZ"
  rm -rf "$tmp"
fi

WORK="$(mktemp -d "$ASSETS/.chat-templates.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$TGZ" -C "$WORK" package/llama/gitRelease.bundle
git init -q "$WORK/src"
git -C "$WORK/src" fetch -q "$WORK/package/llama/gitRelease.bundle" HEAD
mkdir -p "$ASSETS/llama.cpp"
git -C "$WORK/src" archive FETCH_HEAD models/templates | tar -x -C "$ASSETS/llama.cpp"
log "extracted $(ls "$TEMPLATES"/*.jinja | wc -l) chat templates into $TEMPLATES"
