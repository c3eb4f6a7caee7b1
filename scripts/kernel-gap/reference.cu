// The JIT-gap reference: moa-java's decode kernels and its prompt GEMM written again in CUDA C, line for line the same algorithms
// as tasks/src/main/java/dev/moa/tasks/kernels/{MatVecKernels,AttentionKernels,PipelinedGemm}.java (same grids, same
// parameters in the same order: a launch whose arguments drift from a kernel's PTX parameters is refused), so that
// `moa kernels --bench --reference-ptx` can time the PTX our JIT writes against the PTX nvcc writes for the same work,
// and `moa kernels --sass --reference-ptx` can count both builds' SASS. The attention kernels read F32 caches only
// (kvFormat must be 0); they keep the 16-bit cache parameters so that both builds take the same argument lists.
//
//   nvcc -ptx -O3 -arch=sm_90 scripts/kernel-gap/reference.cu -o reference.ptx
#include <cuda_bf16.h>
#include <math_constants.h>

#define WARP 32
#define MATVEC_GROUP 256
#define ROWS_PER_GROUP (MATVEC_GROUP / WARP)
#define ATT_GROUP 128
#define SPLIT 256
#define GROUPED 128
#define GROUPED_SPLIT 128
#define MAX_GROUP_HEADS 8
#define MAX_HEAD_DIM 128
#define GROUPED_WARPS (GROUPED / WARP)
// a decode step's per-row scalars (tasks/.../kernels/Step.java): SIZE ints per batch row, the position at POSITION
#define STEP_SIZE 2
#define STEP_POSITION 1

__device__ __forceinline__ float bf16_lo(unsigned int w) { return __uint_as_float(w << 16); }
__device__ __forceinline__ float bf16_hi(unsigned int w) { return __uint_as_float(w & 0xFFFF0000u); }

// One warp per row; each lane reads 8 BF16 weights and 8 activations per 16-byte load pair when cols % 8 == 0.
extern "C" __global__ void matvec_bf16(const unsigned short* __restrict__ w, const float* __restrict__ x,
                                       float* __restrict__ out, int rows, int cols) {
    int row = blockIdx.x * ROWS_PER_GROUP + threadIdx.x / WARP;
    int lane = threadIdx.x % WARP;
    float sum = 0.f;
    if (row < rows) {
        long long base = (long long) row * cols;
        if (cols % 8 == 0) {
#pragma unroll 4
            for (int c = lane * 8; c < cols; c += 8 * WARP) {
                uint4 wv = __ldg(reinterpret_cast<const uint4*>(w + base + c));
                float4 x0 = __ldg(reinterpret_cast<const float4*>(x + c));
                float4 x1 = __ldg(reinterpret_cast<const float4*>(x + c + 4));
                sum += bf16_lo(wv.x) * x0.x + bf16_hi(wv.x) * x0.y + bf16_lo(wv.y) * x0.z + bf16_hi(wv.y) * x0.w
                     + bf16_lo(wv.z) * x1.x + bf16_hi(wv.z) * x1.y + bf16_lo(wv.w) * x1.z + bf16_hi(wv.w) * x1.w;
            }
        } else {
#pragma unroll 4
            for (int c = lane; c < cols; c += WARP) sum += __uint_as_float(((unsigned int) __ldg(w + base + c)) << 16) * __ldg(x + c);
        }
    }
    for (int mask = 16; mask > 0; mask >>= 1) sum += __shfl_xor_sync(0xFFFFFFFFu, sum, mask);
    if (row < rows && lane == 0) out[row] = sum;
}

__device__ float block_max(float* partial, float value) {
    int t = threadIdx.x;
    partial[t] = value;
    __syncthreads();
    for (int stride = ATT_GROUP / 2; stride > 0; stride >>= 1) {
        if (t < stride) partial[t] = fmaxf(partial[t], partial[t + stride]);
        __syncthreads();
    }
    float m = partial[0];
    __syncthreads();
    return m;
}

__device__ float block_sum(float* partial, float value) {
    int t = threadIdx.x;
    partial[t] = value;
    __syncthreads();
    for (int stride = ATT_GROUP / 2; stride > 0; stride >>= 1) {
        if (t < stride) partial[t] += partial[t + stride];
        __syncthreads();
    }
    float s = partial[0];
    __syncthreads();
    return s;
}

// One split of flash-decoding over MoA's per-head cache (see AttentionKernels.decodeSplit).
// CacheLayout.visible: a key at position `key` is seen by a query at `query` through sink `sink` and window `local`.
__device__ __forceinline__ bool visible(int key, int query, int sink, int local) {
    return key <= query && (key < sink || key > query - local);
}

__device__ __forceinline__ float warp_max(float v) {
    for (int mask = WARP / 2; mask > 0; mask >>= 1) v = fmaxf(v, __shfl_xor_sync(0xFFFFFFFFu, v, mask));
    return v;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int mask = WARP / 2; mask > 0; mask >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, mask);
    return v;
}

// AttentionKernels.decodeSplit: one query head (blockIdx.x) against one split of SPLIT slots of its KV group,
// batch row blockIdx.z.
extern "C" __global__ void attention_split(const float* __restrict__ q, const float* __restrict__ keyCache,
                                           const float* __restrict__ valueCache, const unsigned short* keys16,
                                           const unsigned short* values16, const int* __restrict__ slotPositions,
                                           const int* __restrict__ offsets, const int* __restrict__ rings,
                                           const int* __restrict__ headSink, const int* __restrict__ headLocal,
                                           float* __restrict__ partialOut, float* __restrict__ partialMax,
                                           float* __restrict__ partialSum, const int* __restrict__ step,
                                           const int* __restrict__ sinkSlots, int heads, int kvHeads, int headDim,
                                           float scale, int kvFormat) {
    __shared__ float scores[SPLIT];
    __shared__ float reduce[ATT_GROUP];
    int head = blockIdx.x, split = blockIdx.y, splits = gridDim.y, b = blockIdx.z;
    int gi = b * kvHeads + head / (heads / kvHeads);
    int slots = sinkSlots[b] + rings[gi], first = offsets[gi];
    int sink = headSink[(long long) b * heads + head], local = headLocal[(long long) b * heads + head];
    int t = threadIdx.x;
    int position = step[(long long) b * STEP_SIZE + STEP_POSITION];
    int begin = split * SPLIT;
    long long queryBase = (long long) b * (heads + 2 * kvHeads) * headDim + (long long) head * headDim;

    float max = -CUDART_INF_F;
    for (int j = t; j < SPLIT; j += ATT_GROUP) {
        int slot = begin + j;
        float score = -CUDART_INF_F;
        if (slot < slots) {
            int p = slotPositions[first + slot];
            if (p >= 0 && visible(p, position, sink, local)) {
                long long keyBase = (long long) (first + slot) * headDim;
                float dot = 0.f;
#pragma unroll 8
                for (int d = 0; d < headDim; d++) dot += q[queryBase + d] * keyCache[keyBase + d];
                score = dot * scale;
            }
        }
        scores[j] = score;
        max = fmaxf(max, score);
    }
    max = block_max(reduce, max);
    float sum = 0.f;
    for (int j = t; j < SPLIT; j += ATT_GROUP) {
        float e = max == -CUDART_INF_F ? 0.f : __expf(scores[j] - max);
        scores[j] = e;
        sum += e;
    }
    sum = block_sum(reduce, sum);
    long long out = (((long long) b * heads + head) * splits + split) * headDim;
    for (int d = t; d < headDim; d += ATT_GROUP) {
        float acc = 0.f;
#pragma unroll 4
        for (int j = 0; j < SPLIT; j++) {
            float w = scores[j];
            if (w != 0.f) acc += w * valueCache[(long long) (first + begin + j) * headDim + d];
        }
        partialOut[out + d] = acc;
    }
    if (t == 0) {
        partialMax[((long long) b * heads + head) * splits + split] = max;
        partialSum[((long long) b * heads + head) * splits + split] = sum;
    }
}

// AttentionKernels.mergedSum / mergedValue: the splits of one head, weighted by e^(m_s - max).
__device__ float merged_sum(const float* partialMax, const float* partialSum, long long stats, int splits, int from,
                            int stride, float max) {
    float total = 0.f;
    for (int s = from; s < splits; s += stride) {
        float m = partialMax[stats + s];
        if (m != -CUDART_INF_F) total += __expf(m - max) * partialSum[stats + s];
    }
    return total;
}

__device__ float merged_value(const float* partialOut, const float* partialMax, long long stats, int splits, int headDim,
                              int d, float max) {
    float acc = 0.f;
#pragma unroll 4
    for (int s = 0; s < splits; s++) {
        float m = partialMax[stats + s];
        if (m != -CUDART_INF_F) acc += __expf(m - max) * partialOut[(stats + s) * headDim + d];
    }
    return acc;
}

// AttentionKernels.combine: merges the splits of each query head (blockIdx.x, batch row blockIdx.y).
extern "C" __global__ void attention_combine(const float* __restrict__ partialOut, const float* __restrict__ partialMax,
                                             const float* __restrict__ partialSum, float* __restrict__ out, int splits,
                                             int headDim) {
    long long head = (long long) blockIdx.y * gridDim.x + blockIdx.x;
    long long stats = head * splits;
    float max = -CUDART_INF_F;
    for (int s = 0; s < splits; s++) max = fmaxf(max, partialMax[stats + s]);
    float total = merged_sum(partialMax, partialSum, stats, splits, 0, 1, max);
    for (int d = threadIdx.x; d < headDim; d += ATT_GROUP) {
        out[head * headDim + d] = merged_value(partialOut, partialMax, stats, splits, headDim, d, max) / total;
    }
}

// AttentionKernels.score: query head i's score of slot j (position p, -1 when empty), -inf where not visible.
__device__ __forceinline__ void grouped_score(float* weights, int i, int j, int p, float dot, int groupHeads,
                                              int position, const int* spans) {
    if (i >= groupHeads) return;
    bool seen = p >= 0 && visible(p, position, spans[2 * i], spans[2 * i + 1]);
    weights[i * GROUPED_SPLIT + j] = seen ? dot : -CUDART_INF_F;
}

// acc += p·v, and x summed with lane ^ m's x: the value loops' four dimensions at a time.
__device__ __forceinline__ void fma4(float4& acc, float p, float4 v) {
    acc.x += p * v.x; acc.y += p * v.y; acc.z += p * v.z; acc.w += p * v.w;
}

__device__ __forceinline__ void shuffle_sum4(float4& x, int m) {
    x.x += __shfl_xor_sync(0xFFFFFFFFu, x.x, m); x.y += __shfl_xor_sync(0xFFFFFFFFu, x.y, m);
    x.z += __shfl_xor_sync(0xFFFFFFFFu, x.z, m); x.w += __shfl_xor_sync(0xFFFFFFFFu, x.w, m);
}

// AttentionKernels.softmax: warp w takes heads w, w+4, …: the split's maximum m and sum l of exp(score - m), which
// replace the scores; m and l go to this split's place.
__device__ __forceinline__ void grouped_softmax(float* weights, float* merge, float* partialMax, float* partialSum, int firstHead,
                                                int groupHeads, int splits, int split) {
    int lane = threadIdx.x % WARP, warp = threadIdx.x / WARP;
    for (int i = warp; i < groupHeads; i += GROUPED_WARPS) {
        float max = -CUDART_INF_F;
        for (int j = lane; j < GROUPED_SPLIT; j += WARP) max = fmaxf(max, weights[i * GROUPED_SPLIT + j]);
        max = warp_max(max);
        float sum = 0.f;
        for (int j = lane; j < GROUPED_SPLIT; j += WARP) {
            float e = max == -CUDART_INF_F ? 0.f : __expf(weights[i * GROUPED_SPLIT + j] - max);
            weights[i * GROUPED_SPLIT + j] = e;
            sum += e;
        }
        sum = warp_sum(sum);
        if (lane == 0) {
            long long at = (long long) (firstHead + i) * splits + split;
            partialMax[at] = max;
            partialSum[at] = sum;
            merge[2 * i] = max;
            merge[2 * i + 1] = sum;
        }
    }
}

// AttentionKernels.finishSplit: the warps' sums (partialHeads heads each) into this split's outputs; the last split of the
// row's KV group to arrive (VectorKernels.lastToArrive) merges the group's splits.
__device__ __forceinline__ void grouped_finish(const float* partial, int partialHeads, float* merge, int* last, float* partialOut,
                                               float* partialMax, float* partialSum, int* arrivals, float* out, int gi, int firstHead,
                                               int groupHeads, int headDim, int splits, int active, int split) {
    int t = threadIdx.x, lane = t % WARP, warp = t / WARP;
    if (active == 1) { // one split holds the group's live slots: its sums are the result, no merge
        for (int k = t; k < groupHeads * headDim; k += GROUPED) {
            int i = k / headDim, d = k % headDim;
            float acc = 0.f;
            for (int w = 0; w < GROUPED_WARPS; w++) acc += partial[(w * partialHeads + i) * headDim + d];
            out[(long long) (firstHead + i) * headDim + d] = acc / merge[2 * i + 1];
        }
        return;
    }
    for (int k = t; k < groupHeads * headDim; k += GROUPED) {
        int i = k / headDim, d = k % headDim;
        float acc = 0.f;
        for (int w = 0; w < GROUPED_WARPS; w++) acc += partial[(w * partialHeads + i) * headDim + d];
        partialOut[((long long) (firstHead + i) * splits + split) * headDim + d] = acc;
    }

    // VectorKernels.lastToArrive: the last split of this row's KV group to finish merges the group's splits
    __threadfence();
    __syncthreads();
    if (t == 0) *last = atomicAdd(arrivals + gi, 1) == active - 1 ? 1 : 0;
    __syncthreads();
    if (!*last) return;
    if (t == 0) arrivals[gi] = 0;
    for (int i = warp; i < groupHeads; i += GROUPED_WARPS) {
        long long stats = (long long) (firstHead + i) * splits;
        float max = -CUDART_INF_F;
        for (int s = lane; s < active; s += WARP) max = fmaxf(max, partialMax[stats + s]);
        max = warp_max(max);
        float total = warp_sum(merged_sum(partialMax, partialSum, stats, active, lane, WARP, max));
        if (lane == 0) {
            merge[2 * i] = max;
            merge[2 * i + 1] = total;
        }
    }
    __syncthreads();
    for (int k = t; k < groupHeads * headDim; k += GROUPED) {
        int i = k / headDim, d = k % headDim;
        long long h = firstHead + i;
        out[h * headDim + d] = merged_value(partialOut, partialMax, h * splits, active, headDim, d, merge[2 * i]) / merge[2 * i + 1];
    }
}

// AttentionKernels.decodeGrouped: one split of GROUPED_SPLIT slots of KV group blockIdx.x against all the query heads
// that share it (each key and value read once for all of them), batch row blockIdx.z; the last split of the group
// to finish merges the group's splits. Work-item t scores slot t (16-byte key loads, four heads at a time); warp w
// takes the softmax of heads w, w+4, …; value rows are read 16 bytes per lane, 128/headDim rows per warp at a time.
// HD and GH, where positive, fix head_dim and the query heads per KV group at compile time (as our @Specialize
// variants fix them); 0 reads them from the parameters.
#define GROUPED_PARAMS const float* __restrict__ q, const float* __restrict__ keyCache, \
        const float* __restrict__ valueCache, const unsigned short* keys16, const unsigned short* values16, \
        const int* __restrict__ slotPositions, const int* __restrict__ offsets, const int* __restrict__ rings, \
        const int* __restrict__ headSink, const int* __restrict__ headLocal, float* partialOut, float* partialMax, \
        float* partialSum, int* arrivals, float* __restrict__ out, const int* __restrict__ step, \
        const int* __restrict__ sinkSlots, int heads, int kvHeads, int headDimArg, float scale, int kvFormat
#define GROUPED_ARGS q, keyCache, valueCache, keys16, values16, slotPositions, offsets, rings, headSink, headLocal, \
        partialOut, partialMax, partialSum, arrivals, out, step, sinkSlots, heads, kvHeads, headDimArg, scale, kvFormat
template <int HD, int GH>
__device__ __forceinline__ void grouped(GROUPED_PARAMS) {
    const int headDim = HD > 0 ? HD : headDimArg;
    __shared__ __align__(16) float queries[MAX_GROUP_HEADS * MAX_HEAD_DIM];
    __shared__ float weights[MAX_GROUP_HEADS * GROUPED_SPLIT];
    __shared__ float partial[GROUPED_WARPS * MAX_GROUP_HEADS * MAX_HEAD_DIM];
    __shared__ float merge[2 * MAX_GROUP_HEADS];
    __shared__ int last;
    __shared__ int spans[2 * MAX_GROUP_HEADS];
    int g = blockIdx.x, split = blockIdx.y, splits = gridDim.y, b = blockIdx.z;
    const int groupHeads = GH > 0 ? GH : heads / kvHeads;
    int firstHead = b * heads + g * groupHeads;
    int gi = b * kvHeads + g;
    int first = offsets[gi] + split * GROUPED_SPLIT;
    int position = step[(long long) b * STEP_SIZE + STEP_POSITION];
    // CacheLayout.liveSlots: the slots a position has reached; splits past them return, the merge counts the rest
    int live = min(sinkSlots[b] + rings[gi], position + 1), active = (live + GROUPED_SPLIT - 1) / GROUPED_SPLIT;
    if (split >= active) return;
    int filled = min(GROUPED_SPLIT, live - split * GROUPED_SPLIT);
    long long query = (long long) b * (heads + 2 * kvHeads) * headDim + (long long) g * groupHeads * headDim;
    int t = threadIdx.x, lane = t % WARP, warp = t / WARP;

    int queryFloats = MAX_GROUP_HEADS * headDim;
#pragma unroll 4
    for (int i = t; i < queryFloats; i += GROUPED) queries[i] = i < groupHeads * headDim ? q[query + i] * scale : 0.f;
    if (t < groupHeads) {
        spans[2 * t] = headSink[firstHead + t];
        spans[2 * t + 1] = headLocal[firstHead + t];
    }
    __syncthreads();

    int p = t < filled ? slotPositions[(long long) first + t] : -1;
    long long key = (long long) (first + t) * headDim;
    for (int i = 0; i < groupHeads; i += 4) {
        float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
        if (p >= 0) {
            int qa = i * headDim, qb = qa + headDim, qc = qb + headDim, qd = qc + headDim;
            if (headDim % 4 == 0) {
#pragma unroll 8
                for (int d = 0; d < headDim; d += 4) {
                    float4 k = __ldg(reinterpret_cast<const float4*>(keyCache + key + d));
                    float4 xa = *reinterpret_cast<const float4*>(queries + qa + d);
                    float4 xb = *reinterpret_cast<const float4*>(queries + qb + d);
                    float4 xc = *reinterpret_cast<const float4*>(queries + qc + d);
                    float4 xd = *reinterpret_cast<const float4*>(queries + qd + d);
                    s0 += xa.x * k.x + xa.y * k.y + xa.z * k.z + xa.w * k.w;
                    s1 += xb.x * k.x + xb.y * k.y + xb.z * k.z + xb.w * k.w;
                    s2 += xc.x * k.x + xc.y * k.y + xc.z * k.z + xc.w * k.w;
                    s3 += xd.x * k.x + xd.y * k.y + xd.z * k.z + xd.w * k.w;
                }
            } else {
#pragma unroll 8
                for (int d = 0; d < headDim; d++) {
                    float k = keyCache[key + d];
                    s0 += queries[qa + d] * k;
                    s1 += queries[qb + d] * k;
                    s2 += queries[qc + d] * k;
                    s3 += queries[qd + d] * k;
                }
            }
        }
        grouped_score(weights, i, t, p, s0, groupHeads, position, spans);
        grouped_score(weights, i + 1, t, p, s1, groupHeads, position, spans);
        grouped_score(weights, i + 2, t, p, s2, groupHeads, position, spans);
        grouped_score(weights, i + 3, t, p, s3, groupHeads, position, spans);
    }
    __syncthreads();

    grouped_softmax(weights, merge, partialMax, partialSum, firstHead, groupHeads, splits, split);
    __syncthreads();

    int rowLanes = headDim / 4; // lanes reading one value row, 16 bytes each
    bool wide = headDim % 4 == 0 && WARP % rowLanes == 0;
    for (int i = 0; wide && i < groupHeads; i += 4) {
        int wa = i * GROUPED_SPLIT, wb = wa + GROUPED_SPLIT, wc = wb + GROUPED_SPLIT, wd = wc + GROUPED_SPLIT;
        int rowsPerWarp = WARP / rowLanes, d = lane % rowLanes * 4;
        float4 a = make_float4(0.f, 0.f, 0.f, 0.f), bb = a, c = a, e = a; // heads i..i+3 x dims d..d+3
        int from = warp * rowsPerWarp + lane / rowLanes, stride = GROUPED_WARPS * rowsPerWarp;
        int rows = filled > from ? (filled - from + stride - 1) / stride : 0;
#pragma unroll 8
        for (int k = 0; k < rows; k++) {
            int j = from + k * stride;
            float4 v = __ldg(reinterpret_cast<const float4*>(valueCache + (long long) (first + j) * headDim + d));
            float pa = weights[wa + j], pb = weights[wb + j], pc = weights[wc + j], pd = weights[wd + j];
            fma4(a, pa, v);
            fma4(bb, pb, v);
            fma4(c, pc, v);
            fma4(e, pd, v);
        }
        for (int m = rowLanes; m < WARP; m <<= 1) { // the warp's rows: lanes with the same dims
            shuffle_sum4(a, m);
            shuffle_sum4(bb, m);
            shuffle_sum4(c, m);
            shuffle_sum4(e, m);
        }
        if (lane < rowLanes) {
            float* at = partial + (warp * MAX_GROUP_HEADS + i) * headDim + d;
            at[0] = a.x; at[1] = a.y; at[2] = a.z; at[3] = a.w;
            at += headDim;
            at[0] = bb.x; at[1] = bb.y; at[2] = bb.z; at[3] = bb.w;
            at += headDim;
            at[0] = c.x; at[1] = c.y; at[2] = c.z; at[3] = c.w;
            at += headDim;
            at[0] = e.x; at[1] = e.y; at[2] = e.z; at[3] = e.w;
        }
    }
    for (int i = 0; !wide && i < groupHeads; i += 4) {
        int wa = i * GROUPED_SPLIT, wb = wa + GROUPED_SPLIT, wc = wb + GROUPED_SPLIT, wd = wc + GROUPED_SPLIT;
        for (int d = lane; d < headDim; d += WARP) {
            float o0 = 0.f, o1 = 0.f, o2 = 0.f, o3 = 0.f;
#pragma unroll 8
            for (int j = warp; j < filled; j += GROUPED_WARPS) {
                float v = valueCache[(long long) (first + j) * headDim + d];
                o0 += weights[wa + j] * v;
                o1 += weights[wb + j] * v;
                o2 += weights[wc + j] * v;
                o3 += weights[wd + j] * v;
            }
            int at = (warp * MAX_GROUP_HEADS + i) * headDim + d;
            partial[at] = o0;
            partial[at + headDim] = o1;
            partial[at + 2 * headDim] = o2;
            partial[at + 3 * headDim] = o3;
        }
    }
    __syncthreads();
    grouped_finish(partial, MAX_GROUP_HEADS, merge, &last, partialOut, partialMax, partialSum, arrivals, out, gi, firstHead, groupHeads,
                   headDim, splits, active, split);
}

extern "C" __global__ void attention_grouped(GROUPED_PARAMS) {
    grouped<0, 0>(GROUPED_ARGS);
}

// The same with head_dim 128 and four query heads per KV group fixed at compile time: the build to compare with our
// variant for those shapes (moa kernels --bench times both against it), so the ratio is the JIT's code, not the
// specialisation.
extern "C" __global__ void attention_grouped_d128(GROUPED_PARAMS) {
    grouped<128, 4>(GROUPED_ARGS);
}

// AttentionKernels.decodeStaged: decodeGrouped's split with its keys and values first copied into shared memory by
// cp.async in 16-byte chunks of contiguous rows (F32 caches here): tiles of STAGE_BYTES, the key tiles then as many
// value tiles, through two buffers in the dynamic shared memory, each refilled with the tile after next; SHARE =
// GROUPED / tile rows adjacent work-items score a key row (its chunks n·SHARE + their index), summed by shuffles;
// rows padded by four words per scoring work-item. Launch with AttentionKernels.stagedSharedBytes of dynamic shared
// memory (the per-head arrays live there too, sized for the launch's heads). HD and GH as for grouped.
#define STAGE_BYTES 16384

__device__ __forceinline__ void copy16(unsigned int* to, const float* from) {
    unsigned int at = (unsigned int) __cvta_generic_to_shared(to);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(at), "l"(__cvta_generic_to_global(from)) : "memory");
}

__device__ __forceinline__ void stage_tile(unsigned int* stage, int tile, int tiles, int tileSlots, int stride, int first,
                                           int filled, const float* keyCache, const float* valueCache, int headDim) {
    if (tile >= 2 * tiles) return;
    bool keys = tile < tiles;
    int from = (keys ? tile : tile - tiles) * tileSlots, rows = min(tileSlots, filled - from);
    int chunks = headDim / 4, buffer = (tile & 1) * tileSlots * stride;
    const float* source = keys ? keyCache : valueCache;
    for (int c = threadIdx.x; c < rows * chunks; c += GROUPED) {
        int r = c / chunks, k = c % chunks;
        copy16(stage + buffer + r * stride + 4 * k, source + (long long) (first + from + r) * headDim + 4 * k);
    }
}

template <int HD, int GH>
__device__ __forceinline__ void staged(GROUPED_PARAMS) {
    const int headDim = HD > 0 ? HD : headDimArg;
    __shared__ float merge[2 * MAX_GROUP_HEADS];
    __shared__ int last;
    __shared__ int spans[2 * MAX_GROUP_HEADS];
    __shared__ int slotOf[GROUPED_SPLIT];
    // the dynamic memory carved as decodeStaged carves it: queries, scores and the warps' sums for whole fours of heads,
    // then the two tile buffers
    extern __shared__ __align__(16) float dynamic[];
    const int quads = ((GH > 0 ? GH : heads / kvHeads) + 3) / 4 * 4;
    float* queries = dynamic;
    float* weights = queries + quads * headDim;
    float* partial = weights + quads * GROUPED_SPLIT;
    unsigned int* stage = reinterpret_cast<unsigned int*>(partial + GROUPED_WARPS * quads * headDim);
    const int tileSlots = min(GROUPED_SPLIT, STAGE_BYTES / (headDim * 4)), share = GROUPED / tileSlots;
    const int padded = headDim + 4 * share, chunks = headDim / 4;
    const int stride = share == 1 && padded / 4 % 2 == 0 ? padded + 4 : padded; // AttentionKernels.stagedStride
    int g = blockIdx.x, split = blockIdx.y, splits = gridDim.y, b = blockIdx.z;
    const int groupHeads = GH > 0 ? GH : heads / kvHeads;
    int firstHead = b * heads + g * groupHeads;
    int gi = b * kvHeads + g;
    int first = offsets[gi] + split * GROUPED_SPLIT;
    int position = step[(long long) b * STEP_SIZE + STEP_POSITION];
    int live = min(sinkSlots[b] + rings[gi], position + 1), active = (live + GROUPED_SPLIT - 1) / GROUPED_SPLIT;
    if (split >= active) return;
    int filled = min(GROUPED_SPLIT, live - split * GROUPED_SPLIT);
    int tiles = (filled + tileSlots - 1) / tileSlots;
    int t = threadIdx.x, lane = t % WARP, warp = t / WARP;

    stage_tile(stage, 0, tiles, tileSlots, stride, first, filled, keyCache, valueCache, headDim);
    asm volatile("cp.async.commit_group;" ::: "memory");
    stage_tile(stage, 1, tiles, tileSlots, stride, first, filled, keyCache, valueCache, headDim);
    asm volatile("cp.async.commit_group;" ::: "memory");
    long long query = (long long) b * (heads + 2 * kvHeads) * headDim + (long long) g * groupHeads * headDim;
    int queryFloats = quads * headDim;
#pragma unroll 4
    for (int i = t; i < queryFloats; i += GROUPED) queries[i] = i < groupHeads * headDim ? q[query + i] * scale : 0.f;
    if (t < groupHeads) {
        spans[2 * t] = headSink[firstHead + t];
        spans[2 * t + 1] = headLocal[firstHead + t];
    }
    slotOf[t] = t < filled ? slotPositions[(long long) first + t] : -1;
    for (int k = t; k < GROUPED_WARPS * quads * headDim; k += GROUPED) partial[k] = 0.f;
    for (int i = 0; i < groupHeads; i++) {
        if (t >= tiles * tileSlots) weights[i * GROUPED_SPLIT + t] = -CUDART_INF_F;
    }

    for (int tile = 0; tile < tiles; tile++) {
        asm volatile("cp.async.wait_group 1;" ::: "memory");
        __syncthreads();
        int r = t / share, part = t % share, j = tile * tileSlots + r, p = slotOf[j];
        const unsigned int* row = stage + (tile & 1) * tileSlots * stride + r * stride;
        for (int i = 0; i < groupHeads; i += 4) {
            float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
            if (p >= 0) {
                int qa = i * headDim, qb = qa + headDim, qc = qb + headDim, qd = qc + headDim;
#pragma unroll 4
                for (int n = 0; n < chunks / share; n++) {
                    int d = 4 * (part + n * share);
                    float4 k = *reinterpret_cast<const float4*>(row + d);
                    float4 xa = *reinterpret_cast<const float4*>(queries + qa + d);
                    float4 xb = *reinterpret_cast<const float4*>(queries + qb + d);
                    float4 xc = *reinterpret_cast<const float4*>(queries + qc + d);
                    float4 xd = *reinterpret_cast<const float4*>(queries + qd + d);
                    s0 += xa.x * k.x + xa.y * k.y + xa.z * k.z + xa.w * k.w;
                    s1 += xb.x * k.x + xb.y * k.y + xb.z * k.z + xb.w * k.w;
                    s2 += xc.x * k.x + xc.y * k.y + xc.z * k.z + xc.w * k.w;
                    s3 += xd.x * k.x + xd.y * k.y + xd.z * k.z + xd.w * k.w;
                }
            }
            for (int m = 1; m < share; m <<= 1) {
                s0 += __shfl_xor_sync(0xFFFFFFFFu, s0, m);
                s1 += __shfl_xor_sync(0xFFFFFFFFu, s1, m);
                s2 += __shfl_xor_sync(0xFFFFFFFFu, s2, m);
                s3 += __shfl_xor_sync(0xFFFFFFFFu, s3, m);
            }
            if (part == 0) {
                grouped_score(weights, i, j, p, s0, groupHeads, position, spans);
                grouped_score(weights, i + 1, j, p, s1, groupHeads, position, spans);
                grouped_score(weights, i + 2, j, p, s2, groupHeads, position, spans);
                grouped_score(weights, i + 3, j, p, s3, groupHeads, position, spans);
            }
        }
        __syncthreads();
        stage_tile(stage, tile + 2, tiles, tileSlots, stride, first, filled, keyCache, valueCache, headDim);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    __syncthreads();

    grouped_softmax(weights, merge, partialMax, partialSum, firstHead, groupHeads, splits, split);
    __syncthreads();

    int rowsPerWarp = WARP / chunks, c = lane % chunks, d = 4 * c;
    int r0 = warp * rowsPerWarp + lane / chunks, pass = GROUPED_WARPS * rowsPerWarp;
    for (int tile = tiles; tile < 2 * tiles; tile++) {
        asm volatile("cp.async.wait_group 1;" ::: "memory");
        __syncthreads();
        int from = (tile - tiles) * tileSlots, rows = min(tileSlots, filled - from);
        const unsigned int* buffer = stage + (tile & 1) * tileSlots * stride;
        for (int i = 0; i < groupHeads; i += 4) {
            int wa = i * GROUPED_SPLIT + from, wb = wa + GROUPED_SPLIT, wc = wb + GROUPED_SPLIT, wd = wc + GROUPED_SPLIT;
            float4 a = make_float4(0.f, 0.f, 0.f, 0.f), bb = a, cc = a, e = a; // heads i..i+3 x dims d..d+3
            int mine = rows > r0 ? (rows - r0 + pass - 1) / pass : 0;
#pragma unroll 4
            for (int n = 0; n < mine; n++) {
                int r = r0 + n * pass;
                float4 v = *reinterpret_cast<const float4*>(buffer + r * stride + d);
                float pa = weights[wa + r], pb = weights[wb + r], pc = weights[wc + r], pd = weights[wd + r];
                fma4(a, pa, v);
                fma4(bb, pb, v);
                fma4(cc, pc, v);
                fma4(e, pd, v);
            }
            for (int m = chunks; m < WARP; m <<= 1) { // the warp's rows: lanes with the same chunk
                shuffle_sum4(a, m);
                shuffle_sum4(bb, m);
                shuffle_sum4(cc, m);
                shuffle_sum4(e, m);
            }
            if (lane < chunks) {
                float* at = partial + (warp * quads + i) * headDim + d;
                at[0] += a.x; at[1] += a.y; at[2] += a.z; at[3] += a.w;
                at += headDim;
                at[0] += bb.x; at[1] += bb.y; at[2] += bb.z; at[3] += bb.w;
                at += headDim;
                at[0] += cc.x; at[1] += cc.y; at[2] += cc.z; at[3] += cc.w;
                at += headDim;
                at[0] += e.x; at[1] += e.y; at[2] += e.z; at[3] += e.w;
            }
        }
        __syncthreads();
        stage_tile(stage, tile + 2, tiles, tileSlots, stride, first, filled, keyCache, valueCache, headDim);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    __syncthreads();
    grouped_finish(partial, quads, merge, &last, partialOut, partialMax, partialSum, arrivals, out, gi, firstHead, groupHeads, headDim, splits,
                   active, split);
}

extern "C" __global__ void attention_staged(GROUPED_PARAMS) {
    staged<0, 0>(GROUPED_ARGS);
}

// As attention_grouped_d128: head_dim 128 and four query heads per KV group fixed at compile time.
extern "C" __global__ void attention_staged_d128(GROUPED_PARAMS) {
    staged<128, 4>(GROUPED_ARGS);
}

// The variants `moa kernels --sass` sets beside our 1B variants: Llama-3.2-1B's head_dim 64 and four query heads per
// KV group fixed at compile time, as our 1B variants fix them (with F32 caches: kvFormat 0).
extern "C" __global__ void attention_grouped_1b(GROUPED_PARAMS) {
    grouped<64, 4>(GROUPED_ARGS);
}

extern "C" __global__ void attention_staged_1b(GROUPED_PARAMS) {
    staged<64, 4>(GROUPED_ARGS);
}

// PipelinedGemm.tile and .large: out[t, r] (+)= sum_c x[t, c] * w[r, c] (+ bias[r]) on the tensor cores, x as `parts`
// BF16 parts (xh, and xl when parts is 2), BF16 weights; per 32 columns a step, staged by cp.async (16 bytes a copy)
// into a ring of three stages in the dynamic shared memory (copies two steps ahead of the products), fragments by
// ldmatrix.x4, products by mma.sync m16n8k16. TILE x TILE output tiles, placed as PipelinedGemm.rastered walks them
// (the walk read back from gridDim.x); four warps of 16 tokens x 64 rows (tile), or eight of 32 tokens x 64 rows
// (large). Launch PipelinedGemm.grid / largeGrid, with their dynamic shared memory.
#define GEMM_STEP 32
#define GEMM_STAGES 3
#define GEMM_ROW_WORDS (GEMM_STEP / 2 + 4)
#define EPILOGUE_BIAS 1
#define EPILOGUE_ACCUMULATE 2

__device__ __forceinline__ void copy16_if(unsigned int* to, const unsigned short* from, bool inside) {
    unsigned int at = (unsigned int) __cvta_generic_to_shared(to);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(at), "l"(__cvta_generic_to_global(from)), "r"(inside ? 16 : 0)
                 : "memory");
}

__device__ __forceinline__ uint4 load_matrix(const unsigned int* at) {
    uint4 v;
    unsigned int address = (unsigned int) __cvta_generic_to_shared(at);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(address));
    return v;
}

__device__ __forceinline__ void mma_bf16(float4& d, uint4 a, unsigned int b0, unsigned int b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};"
                 : "+f"(d.x), "+f"(d.y), "+f"(d.z), "+f"(d.w) : "r"(a.x), "r"(a.y), "r"(a.z), "r"(a.w), "r"(b0), "r"(b1));
}

// One work-item's copies of a step: 8 columns from `column` of its two weight rows and its two tokens' parts.
__device__ __forceinline__ void gemm_stage(unsigned int* ring, int at, int matrixWords, const unsigned short* w, const unsigned short* xh,
                                           const unsigned short* xl, long long w0, long long w1, long long x0, long long x1, int s0,
                                           int s1, int column, int cols, int parts) {
    bool inside = cols % GEMM_STEP == 0 || column < cols;
    long long c = inside ? column : 0;
    copy16_if(ring + at + s0, w + w0 + c, inside);
    copy16_if(ring + at + s1, w + w1 + c, inside);
    copy16_if(ring + at + matrixWords + s0, xh + x0 + c, inside);
    copy16_if(ring + at + matrixWords + s1, xh + x1 + c, inside);
    if (parts == 2) {
        copy16_if(ring + at + 2 * matrixWords + s0, xl + x0 + c, inside);
        copy16_if(ring + at + 2 * matrixWords + s1, xl + x1 + c, inside);
    }
}

__device__ __forceinline__ void gemm_store(float* out, const float* bias, int token, int row, int tokens, int rows, float sum, int epilogue) {
    if (token >= tokens || row >= rows) return;
    long long at = (long long) token * rows + row;
    float value = sum;
    if (epilogue & EPILOGUE_BIAS) value += bias[row];
    if (epilogue & EPILOGUE_ACCUMULATE) value += out[at];
    out[at] = value;
}

// A warp's 16 tokens x 64 rows: eight 16x8 accumulators, rows 8j.. in d[j] (this lane: tokens g, g + 8; rows 2q, 2q + 1).
__device__ __forceinline__ void gemm_store_rows(float* out, const float* bias, int token, int row, int tokens, int rows, int epilogue,
                                                const float4* d) {
#pragma unroll
    for (int j = 0; j < 8; j++) {
        gemm_store(out, bias, token, row + 8 * j, tokens, rows, d[j].x, epilogue);
        gemm_store(out, bias, token, row + 8 * j + 1, tokens, rows, d[j].y, epilogue);
        gemm_store(out, bias, token + 8, row + 8 * j, tokens, rows, d[j].z, epilogue);
        gemm_store(out, bias, token + 8, row + 8 * j + 1, tokens, rows, d[j].w, epilogue);
    }
}

// COLS and PARTS: 0 reads the parameter; otherwise the value, fixed at compile time (a 1B variant: see below).
template <bool LARGE, int COLS, int PARTS>
__device__ __forceinline__ void gemm_pipelined_tile(const unsigned short* __restrict__ w, const unsigned short* __restrict__ xh,
                                                    const unsigned short* __restrict__ xl, const float* __restrict__ bias, float* out,
                                                    int tokens, int rows, int cols, int parts, int epilogue) {
    extern __shared__ __align__(16) float dynamic[]; // (the module's one name for the dynamic shared memory)
    unsigned int* ring = reinterpret_cast<unsigned int*>(dynamic);
    if (COLS) cols = COLS;
    if (PARTS) parts = PARTS;
    const int TILE = LARGE ? 128 : 64, GROUP = LARGE ? 256 : 128;
    int t = threadIdx.x, lane = t % WARP, warp = t / WARP, g = lane / 4, q = lane % 4;
    int rowTiles = (rows + TILE - 1) / TILE, walk = gridDim.x / rowTiles;
    int rowBase = blockIdx.x / walk * TILE, tokenBase = (blockIdx.y * walk + blockIdx.x % walk) * TILE;
    if (tokenBase >= tokens) return;
    int warpTokens = LARGE ? 32 * (warp % 4) : 16 * warp, warpRows = LARGE ? 64 * (warp / 4) : 0;
    int matrixWords = TILE * GEMM_ROW_WORDS, stage = (1 + parts) * matrixWords;
    int a = matrixWords + (warpTokens + lane % 8 + 8 * (lane / 8 % 2)) * GEMM_ROW_WORDS + 4 * (lane / 16);
    int b = (warpRows + lane % 8 + 8 * (lane / 16)) * GEMM_ROW_WORDS + 4 * (lane / 8 % 2);
    int column = 8 * (t / 8 % 4), r0 = t % 8 + 8 * (t / WARP), r1 = r0 + GROUP / 4;
    long long w0 = (long long) min(rowBase + r0, rows - 1) * cols, w1 = (long long) min(rowBase + r1, rows - 1) * cols;
    long long x0 = (long long) min(tokenBase + r0, tokens - 1) * cols, x1 = (long long) min(tokenBase + r1, tokens - 1) * cols;
    int s0 = r0 * GEMM_ROW_WORDS + column / 2, s1 = r1 * GEMM_ROW_WORDS + column / 2;
    int steps = (cols + GEMM_STEP - 1) / GEMM_STEP;
    for (int k = 0; k < GEMM_STAGES - 1; k++) {
        if (k < steps) gemm_stage(ring, k * stage, matrixWords, w, xh, xl, w0, w1, x0, x1, s0, s1, k * GEMM_STEP + column, cols, parts);
        asm volatile("cp.async.commit_group;" ::: "memory");
    }
    float4 d[8], e[8];
#pragma unroll
    for (int j = 0; j < 8; j++) d[j] = e[j] = make_float4(0.f, 0.f, 0.f, 0.f);
    int read = 0, write = (GEMM_STAGES - 1) * stage;
    for (int k = 0; k < steps; k++) {
        asm volatile("cp.async.wait_group 1;" ::: "memory");
        __syncthreads();
        if (k + GEMM_STAGES - 1 < steps) {
            gemm_stage(ring, write, matrixWords, w, xh, xl, w0, w1, x0, x1, s0, s1, (k + GEMM_STAGES - 1) * GEMM_STEP + column, cols, parts);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
#pragma unroll
        for (int kk = 0; kk < GEMM_STEP; kk += 16) {
            int ak = read + a + kk / 2, bk = read + b + kk / 2;
            uint4 b01 = load_matrix(ring + bk), b23 = load_matrix(ring + bk + 16 * GEMM_ROW_WORDS),
                  b45 = load_matrix(ring + bk + 32 * GEMM_ROW_WORDS), b67 = load_matrix(ring + bk + 48 * GEMM_ROW_WORDS);
#pragma unroll 2
            for (int part = 0; part < parts; part++) {
                uint4 a0 = load_matrix(ring + ak + part * matrixWords);
                mma_bf16(d[0], a0, b01.x, b01.y);
                mma_bf16(d[1], a0, b01.z, b01.w);
                mma_bf16(d[2], a0, b23.x, b23.y);
                mma_bf16(d[3], a0, b23.z, b23.w);
                mma_bf16(d[4], a0, b45.x, b45.y);
                mma_bf16(d[5], a0, b45.z, b45.w);
                mma_bf16(d[6], a0, b67.x, b67.y);
                mma_bf16(d[7], a0, b67.z, b67.w);
                if (LARGE) {
                    uint4 a1 = load_matrix(ring + ak + part * matrixWords + 16 * GEMM_ROW_WORDS);
                    mma_bf16(e[0], a1, b01.x, b01.y);
                    mma_bf16(e[1], a1, b01.z, b01.w);
                    mma_bf16(e[2], a1, b23.x, b23.y);
                    mma_bf16(e[3], a1, b23.z, b23.w);
                    mma_bf16(e[4], a1, b45.x, b45.y);
                    mma_bf16(e[5], a1, b45.z, b45.w);
                    mma_bf16(e[6], a1, b67.x, b67.y);
                    mma_bf16(e[7], a1, b67.z, b67.w);
                }
            }
        }
        write = read;
        read = read + stage == GEMM_STAGES * stage ? 0 : read + stage;
    }
    int token = tokenBase + warpTokens + g, row = rowBase + warpRows + 2 * q;
    gemm_store_rows(out, bias, token, row, tokens, rows, epilogue, d);
    if (LARGE) gemm_store_rows(out, bias, token + 16, row, tokens, rows, epilogue, e);
}

#define GEMM_PARAMS const unsigned short* __restrict__ w, const unsigned short* __restrict__ xh, const unsigned short* __restrict__ xl, \
    const float* __restrict__ bias, float* out, int tokens, int rows, int cols, int parts, int epilogue
#define GEMM_ARGS w, xh, xl, bias, out, tokens, rows, cols, parts, epilogue

extern "C" __global__ void __launch_bounds__(128, 4) gemm_pipelined(GEMM_PARAMS) {
    gemm_pipelined_tile<false, 0, 0>(GEMM_ARGS);
}

extern "C" __global__ void __launch_bounds__(256, 2) gemm_pipelined_large(GEMM_PARAMS) {
    gemm_pipelined_tile<true, 0, 0>(GEMM_ARGS);
}

// The variants `moa kernels --sass` sets beside our 1B variants (the catalog's example: 2048 columns, two parts),
// those two fixed at compile time here too: the JIT's code against nvcc's for the same specialized kernel. Launched
// with cols 2048 and parts 2 only.
extern "C" __global__ void __launch_bounds__(128, 4) gemm_pipelined_1b(GEMM_PARAMS) {
    gemm_pipelined_tile<false, 2048, 2>(GEMM_ARGS);
}

extern "C" __global__ void __launch_bounds__(256, 2) gemm_pipelined_large_1b(GEMM_PARAMS) {
    gemm_pipelined_tile<true, 2048, 2>(GEMM_ARGS);
}

// PrefillKernels.blockSparseTensor: MoA's block-sparse prompt attention on the tensor cores, flash-attention 2 over
// 64 x 64 tiles. Group k takes item i * heads + h = schedule[scheduleAt + k] (query head h, the chunk's queries
// [64 i, +64)); warp w its 16 queries; per key tile (block 0, then the band's blocks up to the group's own) K and V are
// copied by cp.async into shared memory (a tile's values while its scores are computed, the next tile's keys while
// its P.V is), S = Q.K^T and O += P.V by mma.sync m16n8k16 from ldmatrix fragments (V transposed), each operand split
// into a BF16 part and the BF16 rounding of what it left (three products: hi.hi + lo.hi + hi.lo), the online softmax
// in registers in log2 units. kv holds the keys and values split as PrefillKernels.splitKeysValues writes them (the
// second parts `low` elements after the first). Launch PrefillKernels.tensorGrid, its dynamic shared memory.
// HD, HEADS, KV_HEADS, STRIDE: 0 reads the parameter, otherwise fixed at compile time (the 1B variant below).
#define TC_ROWS 64
#define TC_GROUP 128
#define PREFILL_BLOCK 64

__device__ __forceinline__ unsigned int pack_bf16(float lo, float hi) {
    unsigned int packed;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;" : "=r"(packed) : "f"(hi), "f"(lo));
    return packed;
}

// What BF16 rounding (`high`) left of two floats, rounded to BF16 in turn: the second part.
__device__ __forceinline__ unsigned int remainder_bf16(float x0, float x1, unsigned int high) {
    return pack_bf16(x0 - bf16_lo(high), x1 - bf16_hi(high));
}

__device__ __forceinline__ float exp2_approx(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

__device__ __forceinline__ uint4 load_matrix_transposed(const unsigned int* at) {
    uint4 v;
    unsigned int address = (unsigned int) __cvta_generic_to_shared(at);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "r"(address));
    return v;
}

// One 16x8 block of a split product, acc + aH.bH + aL.bH + aH.bL, B being 8-row block `block` of bH / bL.
__device__ __forceinline__ void split_product(float4& acc, uint4 aH, uint4 aL, uint4 bH, uint4 bL, int block) {
    unsigned int h0 = block ? bH.z : bH.x, h1 = block ? bH.w : bH.y, l0 = block ? bL.z : bL.x, l1 = block ? bL.w : bL.y;
    mma_bf16(acc, aH, h0, h1);
    mma_bf16(acc, aL, h0, h1);
    mma_bf16(acc, aH, l0, l1);
}

template <int HD, int HEADS, int KV_HEADS, int STRIDE>
__device__ __forceinline__ void prefill_tensor(const float* __restrict__ qkv, const unsigned short* __restrict__ kv, long long low, float* out,
                                               const int* __restrict__ bands, const int* __restrict__ schedule, int scheduleAt, int start,
                                               int count, int tokens, int heads, int kvHeads, int headDim, int stride, float scale) {
    if (HD) headDim = HD;
    if (HEADS) heads = HEADS;
    if (KV_HEADS) kvHeads = KV_HEADS;
    if (STRIDE) stride = STRIDE;
    extern __shared__ __align__(16) float dynamic[];
    unsigned int* sh = reinterpret_cast<unsigned int*>(dynamic);
    const int MAXD = HD ? (HD + 15) / 16 * 16 : 128; // the accumulators a lane holds: 8-dim blocks of the padded head
    int dims = (headDim + 15) / 16 * 16, words = dims / 2 + 4;
    int qHigh = 0, qLow = TC_ROWS * words, kHigh = 2 * TC_ROWS * words, kLow = 3 * TC_ROWS * words;
    int vHigh = 4 * TC_ROWS * words, vLow = 5 * TC_ROWS * words;
    int t = threadIdx.x, lane = t % WARP, warp = t / WARP, g = lane / 4, c = lane % 4;
    int item = schedule[scheduleAt + blockIdx.x];
    int head = item % heads, kvHead = head / (heads / kvHeads);
    int first = start + item / heads * TC_ROWS, end = start + count, block = first / PREFILL_BLOCK;
    int kvStride = 2 * kvHeads * headDim;
    long long keys = (long long) kvHead * headDim, values = keys + (long long) kvHeads * headDim;
    int aRow = warp * 16 + lane % 8 + 8 * (lane / 8 % 2), aWord = 4 * (lane / 16);
    int bRow = lane % 8 + 8 * (lane / 16), bWord = 4 * (lane / 8 % 2);
    int vRow = lane % 8 + 8 * (lane / 8 % 2), vWord = 4 * (lane / 16);
    int rowA = first + warp * 16 + g, rowB = rowA + 8;

    // the group's 64 queries, split, once
    {
        long long from = (long long) (first - start) * stride + (long long) head * headDim;
        int rows = min(TC_ROWS, end - first), pieces = dims / 4;
        for (int i = t; i < TC_ROWS * pieces; i += TC_GROUP) {
            int r = i / pieces, d = 4 * (i % pieces);
            float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
            if (r < rows && d < headDim) v = *reinterpret_cast<const float4*>(qkv + from + (long long) r * stride + d);
            int at = r * words + d / 2;
            unsigned int h0 = pack_bf16(v.x, v.y), h1 = pack_bf16(v.z, v.w);
            sh[qHigh + at] = h0;
            sh[qLow + at] = remainder_bf16(v.x, v.y, h0);
            sh[qHigh + at + 1] = h1;
            sh[qLow + at + 1] = remainder_bf16(v.z, v.w, h1);
        }
    }
    int band = bands[head];
    int bandFirst = tokens <= PREFILL_BLOCK ? 1 : max(1, block - band + 1);
    int tiles = 1 + (block >= bandFirst ? block - bandFirst + 1 : 0);
    float scale2 = scale * 1.442695f;
    float maxA = -CUDART_INF_F, maxB = -CUDART_INF_F, sumA = 0.f, sumB = 0.f;
    float4 o[MAXD / 8];
#pragma unroll
    for (int n = 0; n < MAXD / 8; n++) o[n] = make_float4(0.f, 0.f, 0.f, 0.f);

    // a tile's rows of keys or values (64 from element `from`, `rows` of them real) into shared rows, both parts
    auto copy_rows = [&](int high, int lowAt, long long from, int rows) {
        int pieces = dims / 8, rowsPerPass = TC_GROUP / pieces, piece = t % pieces, r0 = t / pieces;
        bool dimInside = 8 * piece < headDim;
        long long firstAt = from + (dimInside ? 8 * piece : 0) + (long long) r0 * kvStride;
        int word = r0 * words + 4 * piece, left = dimInside ? rows - r0 : 0;
        int passes = (TC_ROWS + rowsPerPass - 1) / rowsPerPass;
#pragma unroll 8
        for (int pass = 0; pass < passes; pass++) {
            int step = pass * rowsPerPass;
            if (TC_GROUP % pieces == 0 || r0 + step < TC_ROWS) {
                long long at = firstAt + (long long) step * kvStride;
                int to = word + step * words;
                copy16_if(sh + high + to, kv + at, step < left);
                copy16_if(sh + lowAt + to, kv + low + at, step < left);
            }
        }
    };
    copy_rows(kHigh, kLow, keys, min(TC_ROWS, end));
    asm volatile("cp.async.commit_group;" ::: "memory");
    for (int tile = 0; tile < tiles; tile++) {
        int key0 = (tile == 0 ? 0 : bandFirst + tile - 1) * PREFILL_BLOCK;
        asm volatile("cp.async.wait_group 0;" ::: "memory");
        __syncthreads();
        copy_rows(vHigh, vLow, (long long) key0 * kvStride + values, min(TC_ROWS, end - key0));
        asm volatile("cp.async.commit_group;" ::: "memory");

        float4 s[8];
#pragma unroll
        for (int j = 0; j < 8; j++) s[j] = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int kd = 0; kd < dims; kd += 16) {
            int a = aRow * words + kd / 2 + aWord, b = bRow * words + kd / 2 + bWord;
            uint4 aH = load_matrix(sh + qHigh + a), aL = load_matrix(sh + qLow + a);
#pragma unroll
            for (int j = 0; j < 4; j++) {
                uint4 bH = load_matrix(sh + kHigh + b + 16 * j * words), bL = load_matrix(sh + kLow + b + 16 * j * words);
                split_product(s[2 * j], aH, aL, bH, bL, 0);
                split_product(s[2 * j + 1], aH, aL, bH, bL, 1);
            }
        }
        if (key0 + TC_ROWS > first) { // causal and the chunk's end, in the group's own block only
#pragma unroll
            for (int j = 0; j < 8; j++) {
                int key = key0 + 2 * c + 8 * j;
                bool in0 = key < end, in1 = key + 1 < end;
                s[j] = make_float4(in0 && key <= rowA ? s[j].x : -CUDART_INF_F, in1 && key + 1 <= rowA ? s[j].y : -CUDART_INF_F,
                                   in0 && key <= rowB ? s[j].z : -CUDART_INF_F, in1 && key + 1 <= rowB ? s[j].w : -CUDART_INF_F);
            }
        }
        float tileA = -CUDART_INF_F, tileB = -CUDART_INF_F;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            tileA = fmaxf(tileA, fmaxf(s[j].x, s[j].y));
            tileB = fmaxf(tileB, fmaxf(s[j].z, s[j].w));
        }
        tileA = fmaxf(tileA, __shfl_xor_sync(0xffffffffu, tileA, 1));
        tileA = fmaxf(tileA, __shfl_xor_sync(0xffffffffu, tileA, 2));
        tileB = fmaxf(tileB, __shfl_xor_sync(0xffffffffu, tileB, 1));
        tileB = fmaxf(tileB, __shfl_xor_sync(0xffffffffu, tileB, 2));
        float nextA = fmaxf(maxA, tileA * scale2), nextB = fmaxf(maxB, tileB * scale2);
        float subA = nextA == -CUDART_INF_F ? 0.f : nextA, subB = nextB == -CUDART_INF_F ? 0.f : nextB;
        float keepA = exp2_approx(maxA - subA), keepB = exp2_approx(maxB - subB);
        maxA = nextA;
        maxB = nextB;
        float tileSumA = 0.f, tileSumB = 0.f;
#pragma unroll
        for (int j = 0; j < 8; j++) {
            s[j] = make_float4(exp2_approx(fmaf(s[j].x, scale2, -subA)), exp2_approx(fmaf(s[j].y, scale2, -subA)),
                               exp2_approx(fmaf(s[j].z, scale2, -subB)), exp2_approx(fmaf(s[j].w, scale2, -subB)));
            tileSumA += s[j].x + s[j].y;
            tileSumB += s[j].z + s[j].w;
        }
        sumA = sumA * keepA + tileSumA;
        sumB = sumB * keepB + tileSumB;
        uint4 pH[4], pL[4]; // P's A fragments for keys 16m.., from the scores of 8-key blocks 2m and 2m + 1
#pragma unroll
        for (int m = 0; m < 4; m++) {
            float4 x = s[2 * m], y = s[2 * m + 1];
            pH[m] = make_uint4(pack_bf16(x.x, x.y), pack_bf16(x.z, x.w), pack_bf16(y.x, y.y), pack_bf16(y.z, y.w));
            pL[m] = make_uint4(remainder_bf16(x.x, x.y, pH[m].x), remainder_bf16(x.z, x.w, pH[m].y), remainder_bf16(y.x, y.y, pH[m].z),
                               remainder_bf16(y.z, y.w, pH[m].w));
        }
#pragma unroll
        for (int n = 0; n < MAXD / 8; n++) {
            if (8 * n < dims) o[n] = make_float4(o[n].x * keepA, o[n].y * keepA, o[n].z * keepB, o[n].w * keepB);
        }
        asm volatile("cp.async.wait_group 0;" ::: "memory");
        __syncthreads();
        if (tile + 1 < tiles) {
            int next = bandFirst + tile;
            copy_rows(kHigh, kLow, (long long) next * PREFILL_BLOCK * kvStride + keys, min(TC_ROWS, end - next * PREFILL_BLOCK));
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
#pragma unroll
        for (int m = 0; m < 4; m++) { // O += P.V per 16 keys: V's rows transposed as B for each pair of 8-dim blocks
            int b = vHigh + (16 * m + vRow) * words + vWord, lowFromHigh = vLow - vHigh;
#pragma unroll
            for (int n = 0; n < MAXD / 16; n++) {
                if (16 * n < dims) {
                    uint4 bH = load_matrix_transposed(sh + b + 8 * n), bL = load_matrix_transposed(sh + b + lowFromHigh + 8 * n);
                    split_product(o[2 * n], pH[m], pL[m], bH, bL, 0);
                    split_product(o[2 * n + 1], pH[m], pL[m], bH, bL, 1);
                }
            }
        }
    }
    sumA += __shfl_xor_sync(0xffffffffu, sumA, 1);
    sumA += __shfl_xor_sync(0xffffffffu, sumA, 2);
    sumB += __shfl_xor_sync(0xffffffffu, sumB, 1);
    sumB += __shfl_xor_sync(0xffffffffu, sumB, 2);
    long long outA = (long long) (rowA - start) * heads * headDim + (long long) head * headDim, outB = outA + 8LL * heads * headDim;
    bool inA = rowA < end, inB = rowB < end;
#pragma unroll
    for (int n = 0; n < MAXD / 8; n++) {
        int d = 2 * c + 8 * n;
        if (d >= headDim) continue;
        if (inA) {
            out[outA + d] = o[n].x / sumA;
            out[outA + d + 1] = o[n].y / sumA;
        }
        if (inB) {
            out[outB + d] = o[n].z / sumB;
            out[outB + d + 1] = o[n].w / sumB;
        }
    }
}

#define PREFILL_PARAMS const float* __restrict__ qkv, const unsigned short* __restrict__ kv, long long low, float* out, \
    const int* __restrict__ bands, const int* __restrict__ schedule, int scheduleAt, int start, int count, int tokens, int heads, \
    int kvHeads, int headDim, int stride, float scale
#define PREFILL_ARGS qkv, kv, low, out, bands, schedule, scheduleAt, start, count, tokens, heads, kvHeads, headDim, stride, scale

extern "C" __global__ void __launch_bounds__(TC_GROUP) prefill_attention_tensor(PREFILL_PARAMS) {
    prefill_tensor<0, 0, 0, 0>(PREFILL_ARGS);
}

// Llama-3.2-1B's shapes fixed, as our 1B variant fixes them: 32 heads over 8, head_dim 64, q/k/v rows of 3072.
extern "C" __global__ void __launch_bounds__(TC_GROUP) prefill_attention_tensor_1b(PREFILL_PARAMS) {
    prefill_tensor<64, 32, 8, 3072>(PREFILL_ARGS);
}
