// Sparse convolution on the GPU through the kernels of the linked bundle.
#pragma once

#include <cstdint>

#include <cuda.h>

#include "sparsekgen/Context.h"
#include "sparsekgen/ConvArguments.h"
#include "sparsekgen/EnumNames.h"

namespace sparsekgen {

// Launches `kernel` on `stream` (asynchronous): its main function and the companions its dataflow's
// table entry lists, each bound by name (LaunchArguments) with scratch buffers (partials, gathered
// rows, products, pair tiles) in stream-ordered memory. Arguments the kernel cannot take (channel
// counts not multiples of its alignment, missing epilogue or sort tensors, tensors past 32-bit
// indexing, misaligned pointers) throw RuntimeError before any launch; a failed launch throws
// CudaError naming the kernel and its grid. With SPARSEKGEN_SYNC_LAUNCHES=1 each launch is followed
// by a synchronisation, so faults inside a kernel are reported against that kernel.
void convForward(Context &context, const skg_kernel_record &kernel, const ConvForwardArguments &args,
                 CUstream stream = nullptr);

// Number of rows of a [rows, columns] device tensor of `dtype` holding a NaN or infinity: after
// poisoning the output with NaNs, the rows a kernel failed to write. Synchronous.
long long countNonFiniteRows(CUdeviceptr tensor, int rows, int columns, uint32_t dtype = SKG_F16,
                             CUstream stream = nullptr);

} // namespace sparsekgen
