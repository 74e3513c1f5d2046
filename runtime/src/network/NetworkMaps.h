// Every kernel map of a network description over one input, as the executor and the trainer build
// them once per run: the levels' coordinates, each map (transposed maps from the maps they mirror)
// and each map's pair count. The host reads back twice: the input's checks, then, after every map
// was enqueued, all level sizes and pair counts at once (maps/CountedKernelMaps.h).
#pragma once

#include <map>
#include <memory>
#include <string>

#include <cuda.h>

#include "sparsekgen/ConvArguments.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

struct NetworkMaps {
  std::map<std::string, std::shared_ptr<const SparseCoordinates>> levels; // "l0": the input's
  std::map<std::string, DeviceKernelMap> maps;
  std::map<std::string, long long> pairs;
};

// From coordinates int32 [rows, 4] in device memory (checked and hashed on the GPU), on the default stream.
NetworkMaps buildNetworkMaps(const Network &network, CUdeviceptr coordinates, int rows);

// Points a forward call at the sort inputs or pair lists its kernel reads.
void bindMapExtras(ConvForwardArguments &args, const DeviceKernelMapExtras &extras);

} // namespace sparsekgen
