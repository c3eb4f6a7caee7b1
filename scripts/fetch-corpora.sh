#!/usr/bin/env bash
# Writes the Debian text corpora that `moa calibrate` / `moa compress` draw their prompts from, as UTF-8 text, to
# ${MOA_HOME:-$HOME/.cache/moa-java}/corpora:
#
#   austen.txt     Jane Austen's six novels        (Debian r-cran-janeaustenr)
#   moby-dick.txt  Herman Melville, Moby Dick      (Debian r-cran-tokenizers, dataset mobydick)
#   kjv.txt        the King James Bible, one verse per line: "Ge1:1 In the beginning ..."   (Debian bible-kjv)
#
# Installs the packages with apt-get when they are missing (needs root or sudo). Idempotent: a file that exists is
# kept. Never committed to the repository.
set -euo pipefail
OUT="${MOA_HOME:-$HOME/.cache/moa-java}/corpora"
mkdir -p "$OUT"
log() { echo "[fetch-corpora] $*" >&2; }

need=()
command -v Rscript > /dev/null && Rscript -e 'library(janeaustenr)' > /dev/null 2>&1 || need+=(r-base-core r-cran-janeaustenr)
command -v Rscript > /dev/null && Rscript -e 'library(tokenizers)' > /dev/null 2>&1 || need+=(r-base-core r-cran-tokenizers)
command -v bible > /dev/null || need+=(bible-kjv)
if [ ! -s "$OUT/austen.txt" ] || [ ! -s "$OUT/moby-dick.txt" ] || [ ! -s "$OUT/kjv.txt" ]; then
  if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    log "apt-get install ${need[*]} (needs root or sudo)"
    $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" > /dev/null \
      || { $SUDO apt-get update -q > /dev/null && $SUDO apt-get install -y -q --no-install-recommends "${need[@]}" > /dev/null; }
  fi
fi

write() {  # write NAME COMMAND...: runs COMMAND with OUT.tmp as its output file, then moves it into place
  local name="$1"; shift
  if [ -s "$OUT/$name" ]; then log "present: $OUT/$name"; return; fi
  "$@" "$OUT/$name.tmp"
  mv "$OUT/$name.tmp" "$OUT/$name"
  log "wrote $OUT/$name ($(wc -c < "$OUT/$name") bytes)"
}
austen() { Rscript -e 'library(janeaustenr); writeLines(austen_books()$text, commandArgs(TRUE)[1], useBytes = TRUE)' "$1"; }
moby() { Rscript -e 'library(tokenizers); data(mobydick); writeLines(mobydick, commandArgs(TRUE)[1], useBytes = TRUE)' "$1"; }
kjv() { bible -f Gen1:1-Rev22:21 > "$1"; }
write austen.txt austen
write moby-dick.txt moby
write kjv.txt kjv
log "corpora in $OUT"
