#!/usr/bin/env bash
# Measures the JIT's gap on a GPU machine: times moa-java's decode kernels (PTX from our Java→PTX JIT) against the
# device's bandwidth roofline and against the same algorithms in CUDA C compiled by nvcc (reference.cu).
#   scripts/kernel-gap/run.sh            # needs libcuda and a GPU; nvcc here or reference.ptx beside this script
# On a GPU machine without nvcc, write the PTX first where nvcc is:
#   nvcc -ptx -O3 -arch=sm_90 scripts/kernel-gap/reference.cu -o scripts/kernel-gap/reference.ptx
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ptx="$here/reference.ptx"
if command -v nvcc >/dev/null; then
    nvcc -ptx -O3 -arch="${MOA_REFERENCE_ARCH:-sm_90}" "$here/reference.cu" -o "$ptx"
fi
[ -f "$ptx" ] || { echo "no nvcc and no $ptx: compile reference.cu with nvcc -ptx (see the top of this script)" >&2; exit 2; }
exec "$here/../moa" kernels --bench --reference-ptx "$ptx"
