// Element loads and stores in f32 arithmetic for the runtime's device code, whatever the tensor's
// element type (f32, f16, bf16), and the dispatch from a skg_dtype to the matching C++ type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "sparsekgen/KernelEnums.h"

namespace sparsekgen::gpu {

template <typename T> __device__ float load(const T *p, long long i);
template <> __device__ inline float load(const float *p, long long i) { return p[i]; }
template <> __device__ inline float load(const __half *p, long long i) { return __half2float(p[i]); }
template <> __device__ inline float load(const __nv_bfloat16 *p, long long i) { return __bfloat162float(p[i]); }
template <typename T> __device__ T store(float v);
template <> __device__ inline float store(float v) { return v; }
template <> __device__ inline __half store(float v) { return __float2half_rn(v); }
template <> __device__ inline __nv_bfloat16 store(float v) { return __float2bfloat16_rn(v); }

// Calls `f(T{})` with T the element type of `dtype` (f16 for anything not f32 or bf16).
template <typename F> void withElementType(uint32_t dtype, F &&f) {
  if (dtype == SKG_F32)
    f(float{});
  else if (dtype == SKG_BF16)
    f(__nv_bfloat16{});
  else
    f(__half{});
}

} // namespace sparsekgen::gpu
