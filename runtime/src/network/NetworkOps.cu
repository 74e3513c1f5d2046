#include "network/NetworkOps.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "device/DeviceUtil.cuh"
#include "device/ElementAccess.cuh"
#include "sparsekgen/BundleAbi.h"

namespace sparsekgen {

namespace {

using gpu::load;
using gpu::store;

struct EpilogueOps {
  uint32_t op[SKG_MAX_EPILOGUE_OPS];
  int count;
};

template <typename T>
__global__ void elementwiseKernel(const T *x, T *out, long long elements, int channels, EpilogueOps ops,
                                  const float *bias, const float *scale, const float *shift, const T *residual) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < elements;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    int c = static_cast<int>(i % channels);
    float v = load(x, i);
    for (int k = 0; k < ops.count; ++k) {
      switch (ops.op[k]) {
      case SKG_EPILOGUE_BIAS:
        v += bias[c];
        break;
      case SKG_EPILOGUE_SCALE_SHIFT:
        v = v * scale[c] + shift[c];
        break;
      case SKG_EPILOGUE_RELU:
        // NaN stays NaN, as in the generated kernels' fused ReLU (arith.maximumf) and the float64
        // reference: fmaxf would turn it into 0 and hide a poisoned input behind an unfused ReLU.
        v = v < 0.0f ? 0.0f : v;
        break;
      default: // SKG_EPILOGUE_RESIDUAL_ADD
        v += load(residual, i);
      }
    }
    out[i] = store<T>(v);
  }
}

constexpr int kMaxConcatInputs = 8;
// The tensors side by side along the channels of a concatenation (its inputs, or a split's outputs).
struct ChannelPieces {
  void *data[kMaxConcatInputs];
  int width[kMaxConcatInputs];
  int count, total;
};

// Concatenation (Split false: whole[row] = pieces side by side) or its inverse, the backward's
// split of the gradient (Split true). Elements move unconverted, so any type of `Word`'s size.
template <typename Word, bool Split>
__global__ void channelPiecesKernel(ChannelPieces pieces, Word *whole, long long rows) {
  long long elements = rows * pieces.total;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < elements;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long row = i / pieces.total;
    int c = static_cast<int>(i - row * pieces.total);
    int k = 0;
    while (c >= pieces.width[k]) {
      c -= pieces.width[k];
      ++k;
    }
    Word *piece = static_cast<Word *>(pieces.data[k]) + row * pieces.width[k] + c;
    if constexpr (Split)
      *piece = whole[i];
    else
      whole[i] = *piece;
  }
}

__global__ void countPairsKernel(const int32_t *map, long long entries, unsigned long long *count) {
  unsigned long long mine = 0;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < entries;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    mine += map[i] >= 0;
  for (int offset = 16; offset > 0; offset /= 2)
    mine += __shfl_down_sync(0xffffffffu, mine, offset);
  if ((threadIdx.x & 31) == 0 && mine)
    atomicAdd(count, mine);
}

unsigned gridFor(long long work) { return std::min(gpu::blocksFor(work), 132u * 16u); }

template <typename T> void launchElementwise(const ElementwiseArguments &a, const EpilogueOps &ops, CUstream s) {
  long long elements = a.rows * a.channels;
  elementwiseKernel<T><<<gridFor(elements), gpu::kThreads, 0, gpu::runtimeStream(s)>>>(
      reinterpret_cast<const T *>(a.x), reinterpret_cast<T *>(a.out), elements, a.channels, ops,
      reinterpret_cast<const float *>(a.bias), reinterpret_cast<const float *>(a.scale),
      reinterpret_cast<const float *>(a.shift), reinterpret_cast<const T *>(a.residual));
  gpu::checkLaunch("launch of the network's element-wise kernel");
}

} // namespace

void elementwiseForward(const ElementwiseArguments &a, CUstream stream) {
  if (a.rows == 0)
    return;
  if (a.ops.size() > SKG_MAX_EPILOGUE_OPS)
    throw RuntimeError(fmt::format("element-wise step: {} ops, at most {}", a.ops.size(), SKG_MAX_EPILOGUE_OPS));
  EpilogueOps ops{};
  ops.count = static_cast<int>(a.ops.size());
  for (size_t k = 0; k < a.ops.size(); ++k)
    ops.op[k] = a.ops[k];
  gpu::withElementType(a.dtype, [&](auto element) { launchElementwise<decltype(element)>(a, ops, stream); });
}

namespace {

template <bool Split>
void channelPieces(const std::vector<CUdeviceptr> &pieces, const std::vector<int> &widths, CUdeviceptr whole,
                   long long rows, uint32_t dtype, CUstream stream, const char *what) {
  if (pieces.size() > kMaxConcatInputs || pieces.size() != widths.size())
    throw RuntimeError(fmt::format("{} of {} tensors: at most {}", what, pieces.size(), kMaxConcatInputs));
  if (rows == 0)
    return;
  ChannelPieces c{};
  c.count = static_cast<int>(pieces.size());
  for (size_t k = 0; k < pieces.size(); ++k) {
    c.data[k] = reinterpret_cast<void *>(pieces[k]);
    c.width[k] = widths[k];
    c.total += widths[k];
  }
  long long elements = rows * c.total;
  auto s = gpu::runtimeStream(stream);
  if (dtype == SKG_F32)
    channelPiecesKernel<uint32_t, Split>
        <<<gridFor(elements), gpu::kThreads, 0, s>>>(c, reinterpret_cast<uint32_t *>(whole), rows);
  else
    channelPiecesKernel<uint16_t, Split>
        <<<gridFor(elements), gpu::kThreads, 0, s>>>(c, reinterpret_cast<uint16_t *>(whole), rows);
  gpu::checkLaunch(what);
}

} // namespace

void concatChannels(const std::vector<CUdeviceptr> &inputs, const std::vector<int> &widths, CUdeviceptr out,
                    long long rows, uint32_t dtype, CUstream stream) {
  channelPieces<false>(inputs, widths, out, rows, dtype, stream, "launch of the network's concatenation kernel");
}

void splitChannels(CUdeviceptr whole, const std::vector<int> &widths, const std::vector<CUdeviceptr> &outputs,
                   long long rows, uint32_t dtype, CUstream stream) {
  channelPieces<true>(outputs, widths, whole, rows, dtype, stream, "launch of the concatenation's backward split");
}

void countMapPairs(const std::vector<CUdeviceptr> &maps, const std::vector<long long> &entries, CUdeviceptr counts,
                   CUstream stream) {
  auto s = gpu::runtimeStream(stream);
  gpu::check(cudaMemsetAsync(reinterpret_cast<void *>(counts), 0, maps.size() * sizeof(unsigned long long), s),
             "cudaMemsetAsync of the pair counts");
  auto *count = reinterpret_cast<unsigned long long *>(counts);
  for (size_t i = 0; i < maps.size(); ++i) {
    if (entries[i] == 0)
      continue;
    countPairsKernel<<<gridFor(entries[i]), gpu::kThreads, 0, s>>>(reinterpret_cast<const int32_t *>(maps[i]),
                                                                   entries[i], count + i);
    gpu::checkLaunch("launch of the kernel-map pair count");
  }
}

} // namespace sparsekgen
