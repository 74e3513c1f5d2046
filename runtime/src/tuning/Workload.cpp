#include "sparsekgen/Workload.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tuning/WorkloadParsing.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/SchemaValidation.h"
#include "sparsekgen/PointCloud.h"

namespace sparsekgen {

using nlohmann::json;

namespace {

// Three per-axis integers of at least 1 (kernel size, stride, dilation), `fallback` when absent.
std::array<int, 3> triple(const JsonReader &r, const json &object, const std::string &pointer, const char *name,
                          std::array<int, 3> fallback) {
  auto values = r.get<std::vector<int>>(object, pointer, name, {fallback.begin(), fallback.end()});
  if (values.size() != 3 || values[0] < 1 || values[1] < 1 || values[2] < 1)
    r.fail(pointer + "/" + name, "expected three integers of at least 1");
  return {values[0], values[1], values[2]};
}

} // namespace

const WorkloadMap &findWorkloadMap(const std::vector<WorkloadMap> &maps, const std::string &name,
                                   const std::string &owner) {
  for (const auto &m : maps)
    if (m.name == name)
      return m;
  throw RuntimeError(fmt::format("{}: no map named '{}'", owner, name));
}

std::vector<LayerGroup> Workload::layerGroups() const {
  std::vector<LayerGroup> groups;
  for (const auto &layer : layers) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const LayerGroup &g) {
      return g.map == layer.map && g.inChannels == layer.inChannels && g.outChannels == layer.outChannels &&
             g.epilogue == layer.epilogue;
    });
    if (it == groups.end())
      it = groups.insert(groups.end(), {layer.map, layer.inChannels, layer.outChannels, layer.epilogue, {}});
    it->layers.push_back(layer.name);
  }
  return groups;
}

json readJsonDocument(const std::string &path, const std::string &what) {
  std::ifstream file(path);
  if (!file)
    throw RuntimeError(fmt::format("{} {}: cannot open", what, path));
  return parseJsonDocument(file, what + " " + path);
}

std::string parseWorkloadDtype(const JsonReader &r, const json &document) {
  auto dtype = r.get<std::string>(document, "", "dtype");
  if (dtype != "f16" && dtype != "bf16" && dtype != "f32")
    r.fail("/dtype", fmt::format("'{}' is not one of f16, bf16, f32", dtype));
  return dtype;
}

std::vector<WorkloadInput> parseWorkloadInputs(const JsonReader &r, const json &document) {
  auto inputs = r.get<json>(document, "", "inputs");
  if (!inputs.is_array() || inputs.empty())
    r.fail("/inputs", "expected a non-empty array");
  std::vector<WorkloadInput> parsed;
  for (size_t i = 0; i < inputs.size(); ++i) {
    std::string p = fmt::format("/inputs/{}", i);
    WorkloadInput input;
    input.scan = r.get<std::string>(inputs[i], p, "scan", "");
    input.coordinates = r.get<std::string>(inputs[i], p, "coordinates", "");
    if (input.scan.empty() == input.coordinates.empty())
      r.fail(p, "expected either 'scan' (with 'columns' and 'voxel_size') or 'coordinates'");
    if (!input.scan.empty()) {
      input.columns = r.get<int>(inputs[i], p, "columns");
      input.voxelSize = r.get<float>(inputs[i], p, "voxel_size");
      if (input.columns < 3 || !(input.voxelSize > 0))
        r.fail(p, "columns must be at least 3 and voxel_size positive");
    }
    parsed.push_back(input);
  }
  return parsed;
}

std::vector<WorkloadMap> parseWorkloadMaps(const JsonReader &r, const json &document) {
  auto maps = r.get<json>(document, "", "maps");
  if (!maps.is_array() || maps.empty())
    r.fail("/maps", "expected a non-empty array");
  std::vector<WorkloadMap> parsed;
  std::set<std::string> levels = {"l0"};
  for (size_t i = 0; i < maps.size(); ++i) {
    std::string p = fmt::format("/maps/{}", i);
    WorkloadMap m;
    m.name = r.get<std::string>(maps[i], p, "name");
    m.coordinates = r.get<std::string>(maps[i], p, "coordinates");
    m.produces = r.get<std::string>(maps[i], p, "produces", "");
    m.mirrors = r.get<std::string>(maps[i], p, "mirrors", "");
    m.geometry.kernelSize = triple(r, maps[i], p, "kernel_size", {3, 3, 3});
    m.geometry.stride = triple(r, maps[i], p, "stride", {1, 1, 1});
    m.geometry.dilation = triple(r, maps[i], p, "dilation", {1, 1, 1});
    if (!levels.count(m.coordinates))
      r.fail(p + "/coordinates", fmt::format("level '{}' is not produced by an earlier map", m.coordinates));
    if (!m.produces.empty() && !m.geometry.strided())
      r.fail(p + "/produces", "only a strided map produces a new level");
    // A transposed map's outputs are the level its strided map read, so it produces none; and no
    // map can mirror it in turn.
    if (!m.produces.empty() && !m.mirrors.empty())
      r.fail(p + "/produces", "a transposed map (with 'mirrors') produces no level: its outputs are the level "
                              "its strided map read");
    if (!m.mirrors.empty()) {
      auto mirrored = std::find_if(parsed.begin(), parsed.end(), [&](const auto &o) { return o.name == m.mirrors; });
      if (mirrored == parsed.end() || mirrored->produces != m.coordinates)
        r.fail(p + "/mirrors", fmt::format("'{}' is not an earlier strided map producing level '{}'", m.mirrors,
                                           m.coordinates));
    }
    if (std::any_of(parsed.begin(), parsed.end(), [&](const auto &o) { return o.name == m.name; }))
      r.fail(p + "/name", fmt::format("map '{}' is defined twice", m.name));
    if (!m.produces.empty())
      levels.insert(m.produces);
    parsed.push_back(m);
  }
  return parsed;
}

namespace {

Workload workloadFromDocument(const json &document, const std::string &source) {
  const JsonReader r("workload " + source);
  Workload w;
  w.source = source;
  w.name = r.get<std::string>(document, "", "name");
  w.dtype = parseWorkloadDtype(r, document);
  w.inputs = parseWorkloadInputs(r, document);
  w.maps = parseWorkloadMaps(r, document);
  auto layers = r.get<json>(document, "", "layers");
  if (!layers.is_array() || layers.empty())
    r.fail("/layers", "expected a non-empty array");
  for (size_t i = 0; i < layers.size(); ++i) {
    std::string p = fmt::format("/layers/{}", i);
    WorkloadLayer l;
    l.name = r.get<std::string>(layers[i], p, "name");
    l.map = r.get<std::string>(layers[i], p, "map");
    l.inChannels = r.get<int>(layers[i], p, "in_channels");
    l.outChannels = r.get<int>(layers[i], p, "out_channels");
    l.epilogue = r.get<std::vector<std::string>>(layers[i], p, "epilogue", {});
    if (std::none_of(w.maps.begin(), w.maps.end(), [&](const auto &m) { return m.name == l.map; }))
      r.fail(p + "/map", fmt::format("no map named '{}'", l.map));
    if (l.inChannels < 1 || l.outChannels < 1)
      r.fail(p, "in_channels and out_channels must be at least 1");
    w.layers.push_back(l);
  }
  validateAgainstSchema(document, "workload.schema.json", "workload " + source); // unknown fields, enums
  return w;
}

} // namespace

Workload loadWorkload(const std::string &path) { return workloadFromDocument(readJsonDocument(path, "workload"), path); }

Workload parseWorkload(const std::string &text, const std::string &source) {
  return workloadFromDocument(parseJsonDocument(text, "workload " + source), source);
}

std::vector<Coordinate> loadInputCoordinates(const WorkloadInput &input, const std::string &dataDirectory) {
  return input.scan.empty()
             ? loadZyxCoordinateFile(dataDirectory + "/voxels/" + input.coordinates)
             : voxelize(loadPointFile(dataDirectory + "/scans/" + input.scan, input.columns), input.voxelSize);
}

std::map<std::string, KernelMap> buildMapsCpu(const std::vector<WorkloadMap> &workloadMaps,
                                              const std::vector<Coordinate> &coordinates) {
  std::map<std::string, std::vector<Coordinate>> levels;
  levels["l0"] = coordinates;
  std::map<std::string, KernelMap> maps;
  for (const auto &m : workloadMaps) {
    if (m.transposed()) {
      const WorkloadMap &strided = findWorkloadMap(workloadMaps, m.mirrors, "maps");
      maps[m.name] = transposedKernelMapCpu(maps.at(strided.name), levels.at(strided.coordinates));
      continue;
    }
    maps[m.name] = buildKernelMapCpu(levels.at(m.coordinates), m.geometry);
    if (!m.produces.empty())
      levels[m.produces] = maps[m.name].outputs;
  }
  return maps;
}

std::map<std::string, KernelMap> buildWorkloadMaps(const Workload &workload, const WorkloadInput &input,
                                                   const std::string &dataDirectory) {
  return buildMapsCpu(workload.maps, loadInputCoordinates(input, dataDirectory));
}

} // namespace sparsekgen
