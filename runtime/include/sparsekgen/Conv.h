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

// The backward pass of a convolution (asynchronous): the input gradient with `inputGradKernel`
// (an input_grad kernel: the forward launch sequence on the transposed map, inputGradCall) and the
// weight gradient with `weightGradKernel` (a weight_grad kernel: K chunks of each offset's pairs,
// one fp32 partial per chunk, and the reduction that adds them in chunk order, so two runs give
// the same bits). Either may be null to skip it. Both read the maps of the forward (its pair lists,
// the transposed map and its sort inputs), so a training step builds each map once. Arguments a
// kernel cannot take throw RuntimeError before any launch; failed launches throw CudaError.
void convBackward(Context &context, const skg_kernel_record *inputGradKernel,
                  const skg_kernel_record *weightGradKernel, const ConvBackwardArguments &args,
                  CUstream stream = nullptr);

// Number of rows of a [rows, columns] device tensor of `dtype` holding a NaN or infinity: after
// poisoning the output with NaNs, the rows a kernel failed to write. Synchronous.
long long countNonFiniteRows(CUdeviceptr tensor, int rows, int columns, uint32_t dtype = SKG_F16,
                             CUstream stream = nullptr);

} // namespace sparsekgen
