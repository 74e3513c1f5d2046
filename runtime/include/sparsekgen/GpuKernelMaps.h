// Kernel maps built on the GPU. Each builder produces exactly what its CPU reference in
// KernelMap.h produces (tests compare them element by element).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <cuda.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/KernelMap.h"
#include "sparsekgen/SparseCoordinates.h"

namespace sparsekgen {

enum class MapKind {
  Forward,               // submanifold (stride 1) or strided (downsampling)
  Transposed,            // upsampling: the inverse of the strided map it mirrors
  GenerativeTransposed,  // upsampling to every reachable coordinate
};

struct DeviceKernelMap {
  MapKind kind = MapKind::Forward;
  ConvGeometry geometry;
  std::shared_ptr<const SparseCoordinates> inputs, outputs;
  int volume = 0;
  // int32 [outputs->size(), volume], -1 where there is no input. The buffer may be longer (a map
  // built before its output count was known): the rows past the outputs hold -1.
  DeviceBuffer outInMap;

  int inputCount() const { return inputs ? inputs->size() : 0; }
  int outputCount() const { return outputs ? outputs->size() : 0; }
  std::vector<int32_t> downloadOutInMap() const;
};

// Submanifold or strided map over `inputs` (see buildKernelMapCpu).
DeviceKernelMap buildKernelMapGpu(const std::shared_ptr<const SparseCoordinates> &inputs,
                                  const ConvGeometry &geometry, CUstream stream = nullptr);

// The upsampling map mirroring `strided` (see transposedKernelMapCpu): outputs are its inputs.
DeviceKernelMap transposedKernelMapGpu(const DeviceKernelMap &strided, CUstream stream = nullptr);

// Generative transposed map (see generativeTransposedKernelMapCpu).
DeviceKernelMap generativeTransposedKernelMapGpu(const std::shared_ptr<const SparseCoordinates> &inputs,
                                                 const ConvGeometry &geometry, CUstream stream = nullptr);

struct MapExtrasRequest {
  bool inverse = false;   // inOutMap
  bool pairs = false;     // per-offset pair lists
  bool bitmasks = false;  // per-row offset masks
  int splits = 0;         // > 0: per-split sort permutations
  int tileRows = 0;       // > 0 (with splits): per-tile OR-reduced masks
};

// Device versions of KernelMapExtras (same layouts); only the requested parts are filled.
struct DeviceKernelMapExtras {
  DeviceBuffer inOutMap;
  std::vector<int32_t> pairOffsets; // host, volume + 1
  DeviceBuffer pairInputs, pairOutputs;
  int maskWords = 0;
  DeviceBuffer bitmasks;
  int splits = 0;
  DeviceBuffer splitPermutations;
  int tileRows = 0, groupMaskWords = 0;
  DeviceBuffer tileMasks;
};

// `sorted`, when given, holds sort inputs of the same map and split count built for another tile
// height (on the same stream, or complete): its permutations are copied, not sorted again (they do
// not depend on the tile height), and only the tile masks are computed.
DeviceKernelMapExtras kernelMapExtrasGpu(const DeviceKernelMap &map, const MapExtrasRequest &request,
                                         CUstream stream = nullptr, const DeviceKernelMapExtras *sorted = nullptr);

} // namespace sparsekgen
