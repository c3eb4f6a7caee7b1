// The JIT-gap reference: moa-java's decode kernels written again in CUDA C, line for line the same algorithms
// as tasks/src/main/java/dev/moa/tasks/kernels/{MatVecKernels,AttentionKernels}.java (same grids, same
// parameters in the same order), so that `moa kernels --bench --reference-ptx` can time the PTX our JIT writes
// against the PTX nvcc writes for the same work.
//
//   nvcc -ptx -O3 -arch=sm_90 scripts/kernel-gap/reference.cu -o reference.ptx
#include <cuda_bf16.h>
#include <math_constants.h>

#define WARP 32
#define MATVEC_GROUP 256
#define ROWS_PER_GROUP (MATVEC_GROUP / WARP)
#define ATT_GROUP 128
#define SPLIT 256

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
extern "C" __global__ void attention_split(const float* __restrict__ q, const float* __restrict__ keyCache,
                                           const float* __restrict__ valueCache, const int* __restrict__ slotPositions,
                                           const int* __restrict__ offsets, const int* __restrict__ spans,
                                           const int* __restrict__ headSink, const int* __restrict__ headLocal,
                                           float* __restrict__ partialOut, float* __restrict__ partialMax,
                                           float* __restrict__ partialSum, int position, int heads, int kvHeads,
                                           int headDim, float scale) {
    __shared__ float scores[SPLIT];
    __shared__ float reduce[ATT_GROUP];
    int head = blockIdx.x, split = blockIdx.y, splits = gridDim.y;
    int g = head / (heads / kvHeads);
    int span = spans[g], first = offsets[g];
    int sink = headSink[head], local = headLocal[head];
    int t = threadIdx.x;
    int begin = split * SPLIT;
    long long queryBase = (long long) head * headDim;

    float max = -CUDART_INF_F;
    for (int j = t; j < SPLIT; j += ATT_GROUP) {
        int slot = begin + j;
        float score = -CUDART_INF_F;
        if (slot < span) {
            int p = slotPositions[first + slot];
            if (p >= 0 && (p < sink || p > position - local)) {
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
        float e = max == -CUDART_INF_F ? 0.f : expf(scores[j] - max);
        scores[j] = e;
        sum += e;
    }
    sum = block_sum(reduce, sum);
    long long out = ((long long) head * splits + split) * headDim;
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
        partialMax[(long long) head * splits + split] = max;
        partialSum[(long long) head * splits + split] = sum;
    }
}

// Merges the splits of each query head (see AttentionKernels.combine).
extern "C" __global__ void attention_combine(const float* __restrict__ partialOut, const float* __restrict__ partialMax,
                                             const float* __restrict__ partialSum, float* __restrict__ out, int splits,
                                             int headDim) {
    int head = blockIdx.x;
    long long stats = (long long) head * splits;
    float max = -CUDART_INF_F;
    for (int s = 0; s < splits; s++) max = fmaxf(max, partialMax[stats + s]);
    float total = 0.f;
    for (int s = 0; s < splits; s++) {
        float m = partialMax[stats + s];
        if (m != -CUDART_INF_F) total += expf(m - max) * partialSum[stats + s];
    }
    for (int d = threadIdx.x; d < headDim; d += ATT_GROUP) {
        float acc = 0.f;
        for (int s = 0; s < splits; s++) {
            float m = partialMax[stats + s];
            if (m != -CUDART_INF_F) acc += expf(m - max) * partialOut[(stats + s) * headDim + d];
        }
        out[(long long) head * headDim + d] = acc / total;
    }
}
