// Sparse convolution on the GPU through the kernels of the linked bundle.
#pragma once

#include <cuda.h>

#include "sparsekgen/Context.h"

namespace sparsekgen {

// Device tensors of one forward convolution, row-major: input [inputs, inChannels] fp16, weight
// [kernelVolume, inChannels, outChannels] fp16, outInMap [outputs, kernelVolume] int32 (-1 = none),
// output [outputs, outChannels] fp16.
struct ConvForwardArguments {
  CUdeviceptr input = 0, weight = 0, outInMap = 0, output = 0;
  int inputs = 0, outputs = 0, inChannels = 0, outChannels = 0, kernelVolume = 0;
};

// Launches `kernel` on `stream` (asynchronous). Arguments the kernel cannot take (channel counts it
// does not support, tensors past 32-bit indexing, misaligned pointers) throw RuntimeError before
// any launch; a failed launch throws CudaError naming the kernel and its grid. With the environment
// variable SPARSEKGEN_SYNC_LAUNCHES=1 each launch is followed by a synchronisation, so faults inside
// a kernel are reported against that kernel.
void convForward(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
                 CUstream stream = nullptr);

// Number of rows of an fp16 [rows, columns] device tensor holding a NaN or infinity: after
// poisoning the output with NaNs, the rows a kernel failed to write. Synchronous.
long long countNonFiniteRows(CUdeviceptr tensor, int rows, int columns, CUstream stream = nullptr);

} // namespace sparsekgen
