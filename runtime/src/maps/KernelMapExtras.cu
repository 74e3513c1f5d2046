#include "sparsekgen/GpuKernelMaps.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_select.cuh>
#include <thrust/iterator/counting_iterator.h>

#include <stdexcept>

#include <fmt/format.h>

#include "device/DeviceUtil.cuh"

namespace sparsekgen {

namespace {

using gpu::blocksFor;
using gpu::as;
using gpu::kThreads;

__global__ void countPairs(const int32_t *outInMap, long long outputCount, int volume, int *counts) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t < outputCount * volume && outInMap[t] >= 0)
    atomicAdd(&counts[t % volume], 1);
}

// Selects the (offset-major) positions k * outputs + j whose map entry exists.
struct HasNeighbour {
  const int32_t *outInMap;
  long long outputCount;
  int volume;
  __device__ bool operator()(long long position) const {
    long long k = position / outputCount, j = position - k * outputCount;
    return outInMap[j * volume + k] >= 0;
  }
};

__global__ void decodePairs(const long long *positions, long long pairs, const int32_t *outInMap,
                            long long outputCount, int volume, int32_t *pairInputs, int32_t *pairOutputs) {
  long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (p >= pairs)
    return;
  long long k = positions[p] / outputCount, j = positions[p] - k * outputCount;
  pairInputs[p] = outInMap[j * volume + k];
  pairOutputs[p] = static_cast<int32_t>(j);
}

// Bits [first, last) of row j's offsets, offset first + b at bit b of word b / 32.
__global__ void offsetMasks(const int32_t *outInMap, int outputCount, int volume, int first, int last, int words,
                            uint32_t *masks) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(outputCount) * words)
    return;
  long long j = t / words;
  int w = static_cast<int>(t - j * words);
  uint32_t mask = 0;
  for (int b = 0; b < 32; ++b) {
    int k = first + w * 32 + b;
    if (k < last && outInMap[j * volume + k] >= 0)
      mask |= 1u << b;
  }
  masks[t] = mask;
}

__global__ void iota(int32_t *values, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    values[i] = i;
}

__global__ void gatherWord(const uint32_t *masks, int words, int word, const int32_t *permutation, int n,
                           uint32_t *keys) {
  int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r < n)
    keys[r] = masks[static_cast<long long>(permutation[r]) * words + word];
}

__global__ void reduceTiles(const uint32_t *masks, int words, const int32_t *permutation, int n, int tileRows,
                            int tiles, uint32_t *tileMasks) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(tiles) * words)
    return;
  int tile = static_cast<int>(t / words), w = static_cast<int>(t % words);
  uint32_t mask = 0;
  for (int r = tile * tileRows, end = min(n, (tile + 1) * tileRows); r < end; ++r)
    mask |= masks[static_cast<long long>(permutation[r]) * words + w];
  tileMasks[t] = mask;
}

// Every split group's masks at once (groups of at most 32 offsets): masks[g * n + j] holds group g's
// bits of row j, keys[g * n + j] the same below the group's rank (S - 1 - g), so one descending
// radix sort orders group 0 first and each group by descending mask, stable within equal masks.
__global__ void groupedMaskKeys(const int32_t *outInMap, int n, int volume, int splits, int groupWidth,
                                uint32_t *masks, uint32_t *keys, int32_t *rows) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(splits) * n)
    return;
  int g = static_cast<int>(t / n), j = static_cast<int>(t - static_cast<long long>(g) * n);
  int first = min(volume, g * groupWidth), last = min(volume, first + groupWidth);
  uint32_t mask = 0;
  for (int k = first; k < last; ++k)
    if (outInMap[static_cast<long long>(j) * volume + k] >= 0)
      mask |= 1u << (k - first);
  masks[t] = mask;
  keys[t] = groupWidth < 32 ? (static_cast<uint32_t>(splits - 1 - g) << groupWidth) | mask : mask;
  rows[t] = j;
}

// Tile t of group g: the OR of its sorted rows' group masks (one mask word per row).
__global__ void reduceGroupedTiles(const uint32_t *masks, const int32_t *permutations, int n, int splits,
                                   int tileRows, int tiles, uint32_t *tileMasks) {
  long long t = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
  if (t >= static_cast<long long>(splits) * tiles)
    return;
  int g = static_cast<int>(t / tiles), tile = static_cast<int>(t - static_cast<long long>(g) * tiles);
  const uint32_t *groupMasks = masks + static_cast<long long>(g) * n;
  const int32_t *permutation = permutations + static_cast<long long>(g) * n;
  uint32_t mask = 0;
  for (int r = tile * tileRows, end = min(n, (tile + 1) * tileRows); r < end; ++r)
    mask |= groupMasks[permutation[r]];
  tileMasks[t] = mask;
}

int bitsFor(int values) {
  int bits = 0;
  while ((1 << bits) < values)
    ++bits;
  return bits;
}

} // namespace

DeviceKernelMapExtras kernelMapExtrasGpu(const DeviceKernelMap &map, const MapExtrasRequest &request,
                                         CUstream driverStream, const DeviceKernelMapExtras *sorted) {
  auto stream = gpu::runtimeStream(driverStream);
  const int n = map.outputCount(), volume = map.volume;
  const long long entries = static_cast<long long>(n) * volume;
  const int32_t *outInMap = as<int32_t>(map.outInMap);
  DeviceKernelMapExtras extras;

  if (request.inverse) {
    extras.inOutMap = DeviceBuffer(static_cast<size_t>(map.inputCount()) * volume * sizeof(int32_t), driverStream);
    extras.inOutMap.fill32(0xffffffffu, driverStream);
    gpu::invertOutInMap(outInMap, n, volume, as<int32_t>(extras.inOutMap), stream);
  }

  if (request.pairs) {
    DeviceBuffer counts(static_cast<size_t>(volume) * sizeof(int), driverStream);
    counts.fill32(0, driverStream);
    if (entries > 0) {
      countPairs<<<blocksFor(entries), kThreads, 0, stream>>>(outInMap, n, volume, as<int>(counts));
      gpu::checkLaunch("countPairs");
    }
    auto hostCounts = counts.download<int>();
    extras.pairOffsets.assign(volume + 1, 0);
    for (int k = 0; k < volume; ++k)
      extras.pairOffsets[k + 1] = extras.pairOffsets[k] + hostCounts[k];
    const long long pairs = extras.pairOffsets[volume];
    extras.pairInputs = DeviceBuffer(static_cast<size_t>(pairs) * sizeof(int32_t), driverStream);
    extras.pairOutputs = DeviceBuffer(static_cast<size_t>(pairs) * sizeof(int32_t), driverStream);
    if (pairs > 0) {
      DeviceBuffer positions(static_cast<size_t>(pairs) * sizeof(long long), driverStream);
      DeviceBuffer selected(sizeof(long long), driverStream);
      thrust::counting_iterator<long long> all(0);
      HasNeighbour predicate{outInMap, n, volume};
      gpu::withScratch(stream, "cub::DeviceSelect::If (pairs)", [&](void *scratch, size_t &bytes) {
        return cub::DeviceSelect::If(scratch, bytes, all, as<long long>(positions), as<long long>(selected), entries,
                                     predicate, stream);
      });
      decodePairs<<<blocksFor(pairs), kThreads, 0, stream>>>(as<long long>(positions), pairs, outInMap, n, volume,
                                                             as<int32_t>(extras.pairInputs),
                                                             as<int32_t>(extras.pairOutputs));
      gpu::checkLaunch("decodePairs");
    }
  }

  if (request.bitmasks) {
    extras.maskWords = maskWordCount(volume);
    extras.bitmasks = DeviceBuffer(static_cast<size_t>(n) * extras.maskWords * sizeof(uint32_t), driverStream);
    if (n > 0) {
      offsetMasks<<<blocksFor(static_cast<long long>(n) * extras.maskWords), kThreads, 0, stream>>>(
          outInMap, n, volume, 0, volume, extras.maskWords, as<uint32_t>(extras.bitmasks));
      gpu::checkLaunch("offsetMasks");
    }
  }

  if (request.splits > 0) {
    const int splits = request.splits;
    extras.splits = splits;
    extras.tileRows = request.tileRows;
    const int groupWidth = splitGroupWidth(volume, splits);
    const int words = groupMaskWordCount(volume, splits);
    extras.groupMaskWords = words;
    const int tiles = request.tileRows > 0 ? (n + request.tileRows - 1) / request.tileRows : 0;
    extras.splitPermutations = DeviceBuffer(static_cast<size_t>(splits) * n * sizeof(int32_t), driverStream);
    if (tiles > 0)
      extras.tileMasks = DeviceBuffer(static_cast<size_t>(splits) * tiles * words * sizeof(uint32_t), driverStream);
    const long long groupedRows = static_cast<long long>(splits) * n;
    const bool reuse = n > 0 && sorted && sorted->splits == splits && sorted->splitPermutations.get();
    if (reuse) {
      // A caller's bug, not bad input: these sort inputs were built for another map.
      if (sorted->splitPermutations.bytes() != static_cast<size_t>(groupedRows) * sizeof(int32_t))
        throw std::logic_error(fmt::format("sort inputs to reuse hold {} bytes of permutations, this map of {} "
                                           "outputs needs {} at {} splits: they are another map's",
                                           sorted->splitPermutations.bytes(), n, groupedRows * sizeof(int32_t),
                                           splits));
      gpu::check(cudaMemcpyAsync(as<int32_t>(extras.splitPermutations), as<int32_t>(sorted->splitPermutations),
                                 static_cast<size_t>(groupedRows) * sizeof(int32_t), cudaMemcpyDeviceToDevice, stream),
                 "cudaMemcpyAsync (split permutations of another tile height)");
    }
    if (n > 0 && words == 1 && groupWidth + bitsFor(splits) <= 32 && groupedRows <= INT32_MAX) {
      // One key kernel, one radix sort and one tile kernel for all groups: a few launches per
      // request, so building sort inputs between convolutions does not starve the GPU.
      DeviceBuffer masks(static_cast<size_t>(groupedRows) * sizeof(uint32_t), driverStream);
      DeviceBuffer keys(static_cast<size_t>(groupedRows) * sizeof(uint32_t), driverStream);
      DeviceBuffer sortedKeys(static_cast<size_t>(groupedRows) * sizeof(uint32_t), driverStream);
      DeviceBuffer rows(static_cast<size_t>(groupedRows) * sizeof(int32_t), driverStream);
      groupedMaskKeys<<<blocksFor(groupedRows), kThreads, 0, stream>>>(outInMap, n, volume, splits, groupWidth,
                                                                       as<uint32_t>(masks), as<uint32_t>(keys),
                                                                       as<int32_t>(rows));
      gpu::checkLaunch("groupedMaskKeys");
      if (!reuse)
        gpu::withScratch(stream, "cub::DeviceRadixSort::SortPairsDescending (split masks)",
                         [&](void *scratch, size_t &bytes) {
                           return cub::DeviceRadixSort::SortPairsDescending(
                               scratch, bytes, as<uint32_t>(keys), as<uint32_t>(sortedKeys), as<int32_t>(rows),
                               as<int32_t>(extras.splitPermutations), static_cast<int>(groupedRows), 0,
                               std::min(32, groupWidth + bitsFor(splits)), stream);
                         });
      if (tiles > 0) {
        reduceGroupedTiles<<<blocksFor(static_cast<long long>(splits) * tiles), kThreads, 0, stream>>>(
            as<uint32_t>(masks), as<int32_t>(extras.splitPermutations), n, splits, request.tileRows, tiles,
            as<uint32_t>(extras.tileMasks));
        gpu::checkLaunch("reduceGroupedTiles");
      }
    } else if (n > 0) {
      DeviceBuffer masks(static_cast<size_t>(n) * words * sizeof(uint32_t), driverStream);
      DeviceBuffer keys(static_cast<size_t>(n) * sizeof(uint32_t), driverStream);
      DeviceBuffer sortedKeys(static_cast<size_t>(n) * sizeof(uint32_t), driverStream);
      DeviceBuffer scratchPermutation(static_cast<size_t>(n) * sizeof(int32_t), driverStream);
      for (int g = 0; g < splits; ++g) {
        auto [first, last] = splitGroupRange(volume, splits, g);
        offsetMasks<<<blocksFor(static_cast<long long>(n) * words), kThreads, 0, stream>>>(
            outInMap, n, volume, first, last, words, as<uint32_t>(masks));
        gpu::checkLaunch("offsetMasks (split group)");
        int32_t *permutation = as<int32_t>(extras.splitPermutations) + static_cast<size_t>(g) * n;
        if (!reuse) {
          iota<<<blocksFor(n), kThreads, 0, stream>>>(permutation, n);
          gpu::checkLaunch("iota");
        }
        // Stable descending sorts from the least to the most significant word: a descending
        // lexicographic order of the group masks in which equal masks keep row order.
        for (int w = 0; w < (reuse ? 0 : words); ++w) {
          // Only the group's bits: one radix pass instead of four for groups of at most 8 offsets.
          const int bitsInWord = std::min(32, (last - first) - 32 * w);
          gatherWord<<<blocksFor(n), kThreads, 0, stream>>>(as<uint32_t>(masks), words, w, permutation, n,
                                                            as<uint32_t>(keys));
          gpu::checkLaunch("gatherWord");
          gpu::withScratch(stream, "cub::DeviceRadixSort::SortPairsDescending (split masks)",
                           [&](void *scratch, size_t &bytes) {
                             return cub::DeviceRadixSort::SortPairsDescending(
                                 scratch, bytes, as<uint32_t>(keys), as<uint32_t>(sortedKeys), permutation,
                                 as<int32_t>(scratchPermutation), n, 0, bitsInWord, stream);
                           });
          gpu::check(cudaMemcpyAsync(permutation, as<int32_t>(scratchPermutation), static_cast<size_t>(n) * 4,
                                     cudaMemcpyDeviceToDevice, stream),
                     "cudaMemcpyAsync (split permutation)");
        }
        if (tiles > 0) {
          reduceTiles<<<blocksFor(static_cast<long long>(tiles) * words), kThreads, 0, stream>>>(
              as<uint32_t>(masks), words, permutation, n, request.tileRows, tiles,
              as<uint32_t>(extras.tileMasks) + static_cast<size_t>(g) * tiles * words);
          gpu::checkLaunch("reduceTiles");
        }
      }
    }
  }
  return extras;
}

} // namespace sparsekgen
