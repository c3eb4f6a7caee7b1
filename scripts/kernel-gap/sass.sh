#!/usr/bin/env bash
# The JIT's gap counted offline (no GPU): what ptxas makes of each kernel (registers, SASS instructions, the
# instructions of its innermost loops), with nvcc's build of the same algorithms (reference.cu) beside ours.
#   scripts/kernel-gap/sass.sh [sm_80|sm_90]      # needs nvcc and ptxas (the CUDA toolkit), not a GPU
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="${1:-sm_90}"
command -v nvcc >/dev/null || { echo "sass.sh: nvcc is not on PATH (install the CUDA toolkit)" >&2; exit 2; }
ptx="$(mktemp --suffix .ptx)"
trap 'rm -f "$ptx"' EXIT
nvcc -ptx -O3 -arch="$target" "$here/reference.cu" -o "$ptx"
"$here/../moa" kernels --sass --target "$target" --reference-ptx "$ptx"
