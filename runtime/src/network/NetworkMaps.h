// Every kernel map of a network description over one input, as the executor and the trainer build
// them once per run: the levels' coordinates, each map (transposed maps from the maps they mirror)
// and each map's pair count.
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

// Builds a network's maps in description order on `stream`, only as far as asked, and reads back
// the pair counts of the maps built since the last read-back in one synchronisation of that stream
// alone. The executor asks for each step's map just before launching the step, so on a stream of its
// own the GPU runs the steps already enqueued while the host builds the next level's maps (each
// strided level's output count is read back before its buffers can be sized).
class NetworkMapBuilder {
public:
  // From coordinates int32 [rows, 4] in device memory, checked and hashed on the GPU on first need.
  NetworkMapBuilder(const Network &network, CUdeviceptr coordinates, int rows, CUstream stream);
  // Builds the maps up to and including `map`, then counts the pairs of those not yet counted.
  void buildThrough(const std::string &map);
  // Builds maps until level `level` exists ("l0" always does once anything was built).
  void buildLevel(const std::string &level);
  void buildAll();
  bool complete() const { return next_ == network_.maps.size(); }
  NetworkMaps &maps() { return built_; }

private:
  void buildInput(); // level l0: the input's coordinates, checked
  void buildNext();
  void countPairs();

  const Network &network_;
  CUdeviceptr coordinates_;
  int rows_;
  CUstream stream_;
  NetworkMaps built_;
  size_t next_ = 0, counted_ = 0; // maps built, and counted, in description order
};

// All of them at once, on the default stream: one read-back of every pair count.
NetworkMaps buildNetworkMaps(const Network &network, CUdeviceptr coordinates, int rows);

// Points a forward call at the sort inputs or pair lists its kernel reads.
void bindMapExtras(ConvForwardArguments &args, const DeviceKernelMapExtras &extras);

} // namespace sparsekgen
