// Sparse convolution on the GPU through the kernels of the linked bundle.
#pragma once

#include <cstdint>
#include <vector>

#include <cuda.h>

#include "sparsekgen/Context.h"

namespace sparsekgen {

// Device tensors of one forward convolution, row-major, in the kernel's types: input
// [inputs, inChannels] and weight [kernelVolume, inChannels, outChannels] in its operand type,
// outInMap [outputs, kernelVolume] int32 (-1 = none), output [outputs, outChannels] in its output type.
struct ConvForwardArguments {
  CUdeviceptr input = 0, weight = 0, outInMap = 0, output = 0;
  int inputs = 0, outputs = 0, inChannels = 0, outChannels = 0, kernelVolume = 0;

  // Tensors of the kernel's fused epilogue (see skg_epilogue_op): f32 [Cout] bias, scale and
  // shift; residual [outputs, Cout] in the output type. Needed exactly when the kernel fuses the op.
  CUdeviceptr bias = 0, scale = 0, shift = 0, residual = 0;

  // Sorted and split dataflows: from kernelMapExtrasGpu(map, {splits = S, tileRows = the kernel's
  // rows_per_block}): splitPermutations, tileMasks and groupMaskWords. Sorted kernels take S = 1.
  CUdeviceptr permutation = 0, tileMasks = 0;
  int maskWords = 0;
  int splits = 1;

  // Fetch-on-demand: the per-offset pair lists of kernelMapExtrasGpu(map, {pairs = true}): device
  // pairInputs and pairOutputs, and the host pairOffsets (volume + 1 entries).
  CUdeviceptr pairInputs = 0, pairOutputs = 0;
  std::vector<int32_t> pairOffsets;
};

// Launches `kernel` on `stream` (asynchronous; a split kernel also launches its reduction, with
// fp32 partial sums in stream-ordered scratch memory). Arguments the kernel cannot take (channel
// counts not multiples of its alignment, missing epilogue or sort tensors, tensors past 32-bit
// indexing, misaligned pointers) throw RuntimeError before any launch; a failed launch throws
// CudaError naming the kernel and its grid. With SPARSEKGEN_SYNC_LAUNCHES=1 each launch is followed
// by a synchronisation, so faults inside a kernel are reported against that kernel.
void convForward(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
                 CUstream stream = nullptr);

// Bytes of one element of a skg_dtype.
int elementBytes(uint32_t dtype);

// Number of rows of a [rows, columns] device tensor of `dtype` holding a NaN or infinity: after
// poisoning the output with NaNs, the rows a kernel failed to write. Synchronous.
long long countNonFiniteRows(CUdeviceptr tensor, int rows, int columns, uint32_t dtype = SKG_F16,
                             CUstream stream = nullptr);

} // namespace sparsekgen
