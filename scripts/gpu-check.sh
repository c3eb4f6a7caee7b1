#!/usr/bin/env bash
# MOA_GPU_SKIP="name ..." skips steps by name; MOA_GPU_ONLY="name ..." runs only those; MOA_GPU_BUDGET=SECONDS (default
# 540) bounds the whole run: each step's limit is cut to what is left, a step is skipped when less than 30 s are, and
# the end names the skipped steps and the command that runs them (a second call on the same machine).
# Everything a GPU machine can show, in one bounded run, most important first, printed to stdout and to
# $OUT/gpu-check.log when OUT is set. The machine needs no JDK: run scripts/device-bundle first where one is, and
# bring .device/ along. Each step has its own time limit, so one failure or hang costs only its own step.
#   1. the driver binding: a two-kernel task graph, captured and replayed (moa kernels --check --device cuda)
#   2. parity: the 15 PyTorch float64 goldens decoded on the GPU; the demo model on the GPU against the CPU in
#      dense, MoA-plan, uniform and window attention (moa check), and after the batch-1 benchmarks the 1B-shaped model
#      they timed (check-1b: its shapes share rows among warps and take the staged attention's 1B tiles, which the
#      small models do not); where the goldens or the demo disagree, again with kernels launched
#      one after another, the unstaged attention and a warp a row (goldens-plain, demo-plain), to tell whether those
#      are to blame
#   3. the kernels against the HBM roofline and nvcc's build of the same algorithms (scripts/kernel-gap), the prefill
#      GEMM against torch.matmul (cuBLAS) on the same shapes (scripts/reference/bench_matmul_cuda.py) and the prefill
#      attention against PyTorch's fused attention (FlashAttention-2/cuDNN, scripts/reference/bench_attention_cuda.py)
#   4. decode tokens/s of the Llama-3.2-1B-shaped BF16 model against the copy bandwidth measured here (batch 1 with
#      a per-kernel profile, and sampled: temperature 0.7, top-p 0.9, drawn on the device; again with the decode attention that reads keys and values as it uses them instead of
#      staging them (--decode-attention grouped), again with each kernel launched after the one before it has
#      finished instead of overlapping it (--dependent-launch off), again with a warp a row in the output and down
#      projections instead of rows shared by warps (--share-rows off), then 1/8/32 sessions stepped together), then Hugging Face
#      transformers bf16 on the same weights (scripts/reference/bench_hf_cuda.py)
#   5. moa serve under a bounded load on the 1B-shaped model: 1, 8 and 32 concurrent streamed clients (moa bench serve)
#   6. whole-model prefill at 2k/8k/16k tokens on the GPU (and at 2k/16k with --prompt-precision bf16), and decode at
#      8k/16k tokens, one and eight sessions:
#      dense vs the reference's Llama-3.2-1B MoA plan vs uniform 50 %; then at 16k each mode with as many sessions
#      as 24 GB of BF16 KV cache hold (MoA's smaller caches hold more: issue 16's "at max batch" comparison); the
#      same on the demo model, whose own 50 % plan keeps 49 % of dense's KV bytes where the reference's Llama-3.2-1B
#      plan keeps 63-67 % (under GQA a group's cache is its widest head's), which caps that plan's gain near 1.6x
# Batched decode runs twice, its matmuls as batched matvecs and (auto) on the tensor cores from five sessions.
# Run order (what the issues' targets need first): 1, 2, batch-1 and batched decode (4), the 16k KV-budget comparison
# and prefill (6), the kernels and cuBLAS (3), transformers (4), decode at 8k/16k (6), serve (5).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${OUT:-}"
log=/dev/null
[ -n "$out" ] && { mkdir -p "$out"; log="$out/gpu-check.log"; }
exec > >(tee -a "$log") 2>&1
steps="gpu kernels-check goldens goldens-plain demo demo-plain bench-1b bench-1b-grouped bench-1b-serial bench-1b-unshared bench-1b-waiting bench-1b-batch check-1b long-context-budget long-context-budget-demo prefill prefill-bf16 kernel-gap torch-matmul torch-attention hf-transformers long-context bench-serve"
for name in ${MOA_GPU_ONLY:-} ${MOA_GPU_SKIP:-}; do # a misspelt name would run nothing (or everything) and report success
    case " $steps " in *" $name "*) ;; *) echo "gpu-check: no step named '$name' in MOA_GPU_ONLY/MOA_GPU_SKIP; the steps: $steps" >&2; exit 2;; esac
done
bundle="$root/.device/moa-device.tar.xz"
[ -f "$bundle" ] || { echo "gpu-check: $bundle not found: run scripts/device-bundle first" >&2; exit 2; }
work="${MOA_GPU_WORK:-/tmp/moa-gpu}"
mkdir -p "$work"
tar -C "$work" -xJf "$bundle"
export MOA_HOME="$work/home"
java=("$work/jre/bin/java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
      --add-exports java.base/jdk.internal.vm=ALL-UNNAMED -XX:+UseParallelGC -Xmx48g -jar "$work/moa.jar")
failed=0
budget="${MOA_GPU_BUDGET:-540}"
late=""
step() { # step NAME SECONDS COMMAND...
    local name="$1" limit="$2"; shift 2
    last_rc=0
    case " ${MOA_GPU_SKIP:-} " in *" $name "*) echo; echo "=== $name: skipped (MOA_GPU_SKIP)"; return;; esac
    if [ -n "${MOA_GPU_ONLY:-}" ]; then case " $MOA_GPU_ONLY " in *" $name "*) ;; *) return;; esac; fi
    local left=$((budget - SECONDS))
    if [ "$left" -lt 30 ]; then echo; echo "=== $name: skipped, ${left}s of the ${budget}s budget left"; late="$late $name"; return; fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo; echo "=== $name (limit ${limit}s): $*" | sed "s|$work|\$WORK|g"
    local start=$SECONDS
    timeout --kill-after=5 "$limit" "$@"
    local rc=$?
    last_rc=$rc
    [ $rc -ne 0 ] && failed=$((failed + 1))
    echo "=== $name: exit $rc after $((SECONDS - start)) s"
}

step gpu 20 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv
step kernels-check 60 "${java[@]}" kernels --check --device cuda
goldens=$(ls tests/src/test/resources/golden/*.json | paste -sd, -)
step goldens 100 "${java[@]}" check --device cuda --golden "$goldens"
# a parity failure is run again the older ways (kernels launched one after another, the unstaged attention, a warp a
# row), so one run tells whether the newest ways are to blame; named in MOA_GPU_ONLY, these steps run whatever the
# first gave
plain=(--dependent-launch off --decode-attention grouped --share-rows off)
again() { [ "$last_rc" -ne 0 ] || case " ${MOA_GPU_ONLY:-} " in *" $1 "*) true;; *) false;; esac; }
again goldens-plain && step goldens-plain 100 "${java[@]}" check --device cuda --golden "$goldens" "${plain[@]}"
step demo 90 "${java[@]}" check --model models/moa-demo --device cuda --prompt-tokens 300 --steps 48 \
    --attention "dense;moa:models/moa-demo/moa-plan-50.json;moa:models/moa-demo/moa-plan-25.json;uniform:0,0.5;window:16"
again demo-plain && step demo-plain 90 "${java[@]}" check --model models/moa-demo --device cuda --prompt-tokens 300 --steps 48 \
    --attention "dense;moa:models/moa-demo/moa-plan-50.json;uniform:0,0.5;window:16" "${plain[@]}"
# decode: BF16 KV caches (as transformers keeps them) and the prompt/decode lengths hf-transformers runs with
step bench-1b 150 "${java[@]}" bench decode --device cuda --kv-cache bf16 --prompt-tokens 128 --decode-tokens 128 --rounds 3 --profile --sample
step bench-1b-grouped 60 "${java[@]}" bench decode --device cuda --kv-cache bf16 --prompt-tokens 128 --decode-tokens 128 --rounds 3 \
    --decode-attention grouped
step bench-1b-serial 60 "${java[@]}" bench decode --device cuda --kv-cache bf16 --prompt-tokens 128 --decode-tokens 128 --rounds 3 \
    --dependent-launch off
# (with its profile: each product's time in the graph a warp a row, against bench-1b's with rows shared)
step bench-1b-unshared 90 "${java[@]}" bench decode --device cuda --kv-cache bf16 --prompt-tokens 128 --decode-tokens 128 --rounds 3 \
    --profile --share-rows off
# (each greedy step waiting for the host's call, as before steps were queued ahead: the host's share of a token)
step bench-1b-waiting 60 "${java[@]}" bench decode --device cuda --kv-cache bf16 --prompt-tokens 128 --decode-tokens 128 --rounds 3 \
    --step-ahead off
step bench-1b-batch 200 "${java[@]}" bench decode --device cuda --kv-cache bf16 --batch 1,8,32,128 --products matvec,auto \
    --prompt-tokens 128 --decode-tokens 64 --rounds 1
plan="$root/.device/llama-3.2-1b-plan.json"
with_plan() { # with_plan NAME SECONDS COMMAND...: a step that needs the 1B plan; without it, a failed step that says so
    if [ -f "$plan" ]; then step "$@"; return; fi
    case " ${MOA_GPU_SKIP:-} " in *" $1 "*) return;; esac
    if [ -n "${MOA_GPU_ONLY:-}" ]; then case " $MOA_GPU_ONLY " in *" $1 "*) ;; *) return;; esac; fi
    echo; echo "=== $1: not run, $plan is missing (scripts/device-bundle puts it there)"; failed=$((failed + 1))
}
# parity on the shapes the benchmarks time (the goldens and the demo model are too small for rows shared among warps, the
# staged attention's 1B tiles or the 1B plan's rings): the 1B-shaped model bench-1b made, against the CPU, each mode
# alone and all together (a batched step below the tensor cores)
modes="dense;uniform:0,0.5;window:16"
[ -f "$plan" ] && modes="$modes;moa:$plan"
step check-1b 150 "${java[@]}" check --model "$MOA_HOME/models/llama-3.2-1b-shaped" --device cuda --prompt-tokens 64 --steps 8 \
    --attention "$modes"
with_plan long-context-budget 240 "${java[@]}" bench long-context --device cuda --lengths 16384 --kv-budget 24G --kv-cache bf16 \
    --products matvec,auto --decode-tokens 4 --plan "$plan"
# (3072-token prompts: with the 1024 steps' allowance, the demo model's 4096 trained positions)
step long-context-budget-demo 120 "${java[@]}" bench long-context --model models/moa-demo --device cuda --lengths 3072 --kv-budget 1G \
    --kv-cache bf16 --decode-tokens 8 --plan models/moa-demo/moa-plan-50.json
with_plan prefill 240 "${java[@]}" bench prefill --device cuda --lengths 2048,8192,16384 --rounds 2 --plan "$plan"
# the same prompts with every operand rounded to BF16 once, as PyTorch's bf16 runs them (half the GEMMs' products)
with_plan prefill-bf16 120 "${java[@]}" bench prefill --device cuda --lengths 2048,16384 --rounds 1 --plan "$plan" --prompt-precision bf16
if command -v nvcc >/dev/null; then # nvcc's build inside the step: its failure is the step's
    step kernel-gap 160 bash -c 'nvcc -ptx -O3 -arch=sm_90 scripts/kernel-gap/reference.cu -o "$0" && exec "$@" --reference-ptx "$0"' \
        "$work/reference.ptx" "${java[@]}" kernels --bench
else
    step kernel-gap 160 "${java[@]}" kernels --bench
fi
step torch-matmul 60 python3 scripts/reference/bench_matmul_cuda.py
step torch-attention 40 python3 scripts/reference/bench_attention_cuda.py --shapes 4096x32x8x64
step hf-transformers 120 python3 scripts/reference/bench_hf_cuda.py --model "$MOA_HOME/models/llama-3.2-1b-shaped" --prompt 128 --gen 64 --batch 1,8,32
with_plan long-context 240 "${java[@]}" bench long-context --device cuda --kv-cache bf16 --lengths 8192,16384 --batch 1,8 --decode-tokens 8 \
    --plan "$plan"
step bench-serve 150 "${java[@]}" bench serve --device cuda --preset llama-3.2-1b --clients 1,8,32 --requests 2 --prompt-tokens 128 --max-tokens 64
# the batch-1 comparisons side by side (each bench prints one JSON line): the defaults, plain launches, the unstaged
# attention, a warp a row, steps not queued ahead
if [ -f "$log" ]; then
    summary=$(awk '/^=== [a-z0-9-]+ \(limit/ { step = $2 }
        /^\{"model"/ && step ~ /^bench-1b(-grouped|-serial|-unshared|-waiting)?$/ && match($0, /"decode_tps":[0-9.]+/) {
            printf "  %-17s %s tokens/s\n", step, substr($0, RSTART + 13, RLENGTH - 13) }' "$log")
    [ -n "$summary" ] && { echo; echo "gpu-check: batch-1 decode (bench-1b: the defaults; -serial: --dependent-launch off; -grouped: unstaged attention; -unshared: --share-rows off; -waiting: --step-ahead off):"; echo "$summary"; }
fi
echo; echo "gpu-check: $failed step(s) failed after $SECONDS s"
[ -n "$late" ] && echo "gpu-check: not run for time:$late -- run them with MOA_GPU_ONLY=\"${late# }\" bash scripts/gpu-check.sh"
exit $((failed > 0))
