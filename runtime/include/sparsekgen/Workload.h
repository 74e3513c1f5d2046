// A network's convolution layers and the kernel maps they share (schemas/workload.schema.json),
// and the maps of one input cloud built level by level.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "sparsekgen/KernelMap.h"

namespace sparsekgen {

struct WorkloadInput {
  std::string scan;        // point file under <data>/scans, or
  std::string coordinates; // int32 (batch, z, y, x) file under <data>/voxels
  int columns = 4;
  float voxelSize = 0.05f;
  std::string label() const { return scan.empty() ? coordinates : scan; }
};

struct WorkloadMap {
  std::string name, coordinates, produces, mirrors;
  ConvGeometry geometry;
  bool transposed() const { return !mirrors.empty(); }
};

struct WorkloadLayer {
  std::string name, map;
  int inChannels = 0, outChannels = 0;
  std::vector<std::string> epilogue;
};

// Layers that run the same problem: one map, the same channels and epilogue. Timed once.
struct LayerGroup {
  std::string map;
  int inChannels = 0, outChannels = 0;
  std::vector<std::string> epilogue;
  std::vector<std::string> layers;
};

// The map named `name`; RuntimeError naming `owner` (e.g. "workload w.json") when there is none.
const WorkloadMap &findWorkloadMap(const std::vector<WorkloadMap> &maps, const std::string &name,
                                   const std::string &owner);

struct Workload {
  std::string name, dtype, source;
  std::vector<WorkloadInput> inputs;
  std::vector<WorkloadMap> maps;
  std::vector<WorkloadLayer> layers;

  const WorkloadMap &findMap(const std::string &name) const { return findWorkloadMap(maps, name, "workload " + source); }
  std::vector<LayerGroup> layerGroups() const; // in the order of their first layer
};

// Throws RuntimeError naming the file and the JSON pointer of what is missing, mistyped or
// inconsistent (a layer naming no map, a map reading a level nothing produces).
Workload loadWorkload(const std::string &path);
// The same from a document's text; `source` names it in messages.
Workload parseWorkload(const std::string &text, const std::string &source);

// The level-0 coordinates of an input: a scan under <data>/scans voxelized, or voxel coordinates
// under <data>/voxels.
std::vector<Coordinate> loadInputCoordinates(const WorkloadInput &input, const std::string &dataDirectory);

// Every map of `maps` over level-0 `coordinates`, by map name (CPU builders: the reference ones).
std::map<std::string, KernelMap> buildMapsCpu(const std::vector<WorkloadMap> &maps,
                                              const std::vector<Coordinate> &coordinates);

// Every map of the workload over one input, by map name.
std::map<std::string, KernelMap> buildWorkloadMaps(const Workload &workload, const WorkloadInput &input,
                                                   const std::string &dataDirectory);

} // namespace sparsekgen
