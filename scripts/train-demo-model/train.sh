#!/usr/bin/env bash
# Reproduces models/moa-demo: installs the Debian packages training needs, then trains (seeded, resumable).
#   scripts/train-demo-model/train.sh [train.py options, e.g. --steps 2400 --threads 2]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need=()
/usr/bin/python3 -c "import torch, numpy, matplotlib" 2>/dev/null || need+=(python3-torch python3-numpy python3-matplotlib libopenblas0-pthread)
Rscript -e 'library(janeaustenr); library(tokenizers)' >/dev/null 2>&1 || need+=(r-base-core r-cran-janeaustenr r-cran-tokenizers)
command -v bible >/dev/null || need+=(bible-kjv)
if ((${#need[@]})); then
    echo "installing ${need[*]} (Debian packages) ..."
    if [[ $(id -u) -eq 0 ]]; then apt_get=(apt-get); else apt_get=(sudo apt-get); fi
    DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -q "${need[@]}" >/dev/null
fi
exec /usr/bin/python3 "$here/train.py" "$@"
