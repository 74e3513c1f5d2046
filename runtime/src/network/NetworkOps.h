// The device ops of a network that are not convolutions: element-wise steps (the fused epilogue
// ops applied to a tensor), channel concatenation, and counting the pairs of kernel maps.
#pragma once

#include <cstdint>
#include <vector>

#include <cuda.h>

namespace sparsekgen {

// out[r][c] = ops(x[r][c]) with the ops (skg_epilogue_op values) in order, in f32 arithmetic, for
// tensors of `dtype` [rows, channels]; bias, scale and shift are f32 [channels], residual is
// [rows, channels] of `dtype`. `out` may be `x`.
struct ElementwiseArguments {
  CUdeviceptr x = 0, out = 0, bias = 0, scale = 0, shift = 0, residual = 0;
  long long rows = 0;
  int channels = 0;
  uint32_t dtype = 0;
  std::vector<uint32_t> ops;
};
void elementwiseForward(const ElementwiseArguments &args, CUstream stream);

// out[r] = (inputs[0][r], inputs[1][r], ...) for tensors of `dtype`; widths are the inputs' channels.
void concatChannels(const std::vector<CUdeviceptr> &inputs, const std::vector<int> &widths, CUdeviceptr out,
                    long long rows, uint32_t dtype, CUstream stream);

// The backward of concatChannels: outputs[k][r] = the k-th piece of whole[r], widths as concatenated.
void splitChannels(CUdeviceptr whole, const std::vector<int> &widths, const std::vector<CUdeviceptr> &outputs,
                   long long rows, uint32_t dtype, CUstream stream);

// counts[i] (int64) = the entries >= 0 of maps[i] (int32, entries[i] of them). Asynchronous.
void countMapPairs(const std::vector<CUdeviceptr> &maps, const std::vector<long long> &entries, CUdeviceptr counts,
                   CUstream stream);

} // namespace sparsekgen
