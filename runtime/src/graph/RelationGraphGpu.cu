// A relational graph's pair lists, built on the device (GraphConv.h): the edges sorted by
// (relation, destination) with one radix sort, the per-relation offsets and the in- and
// out-degrees by binary search over sorted keys, each pair's normalisation weight, then the self
// pairs. Nothing here is per relation and node in memory: AM's 133 relations x 1.7M nodes would
// make a dense degree table of 880 MB.
#include "sparsekgen/GraphConv.h"

#include <limits>

#include <cub/device/device_radix_sort.cuh>

#include "device/DeviceUtil.cuh"
#include "device/ElementAccess.cuh"
#include "graph/GraphDeviceOps.h"

namespace sparsekgen {

namespace {

using Key = unsigned long long; // relation * nodes + node

__global__ void findFirstBadEdge(const int32_t *sources, const int32_t *targets, const int32_t *relations,
                                 long long edges, long long nodes, int relationCount, unsigned long long *firstBad) {
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < edges;
       e += static_cast<long long>(gridDim.x) * blockDim.x) {
    const bool bad = sources[e] < 0 || sources[e] >= nodes || targets[e] < 0 || targets[e] >= nodes ||
                     relations[e] < 0 || relations[e] >= relationCount;
    if (bad)
      atomicMin(firstBad, static_cast<unsigned long long>(e));
  }
}

// key[e] = relation * nodes + (destination, or source when `bySource`).
__global__ void makeEdgeKeys(const int32_t *nodesOfEdge, const int32_t *relations, long long edges, long long nodes,
                             Key *keys) {
  for (long long e = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; e < edges;
       e += static_cast<long long>(gridDim.x) * blockDim.x)
    keys[e] = static_cast<Key>(relations[e]) * static_cast<Key>(nodes) + static_cast<Key>(nodesOfEdge[e]);
}

// The first index of sorted `keys` holding a key >= `key`.
__device__ long long lowerBound(const Key *keys, long long count, Key key) {
  long long low = 0, high = count;
  while (low < high) {
    long long middle = (low + high) / 2;
    if (keys[middle] < key)
      low = middle + 1;
    else
      high = middle;
  }
  return low;
}

__device__ long long runLength(const Key *keys, long long count, Key key) {
  return lowerBound(keys, count, key + 1) - lowerBound(keys, count, key);
}

__global__ void relationOffsets(const Key *sortedKeys, long long edges, long long nodes, int relationCount,
                                int32_t *offsets) {
  const int r = blockIdx.x * blockDim.x + threadIdx.x;
  if (r <= relationCount)
    offsets[r] = static_cast<int32_t>(lowerBound(sortedKeys, edges, static_cast<Key>(r) * static_cast<Key>(nodes)));
}

// Pair p (edge sortedKeys[p]): its destination, and its weight under `normalization`.
__global__ void decodePairs(const Key *sortedKeys, const Key *sourceKeys, const int32_t *sortedSources,
                            long long edges, long long nodes, RelationNormalization normalization, int32_t *outputs,
                            float *weights) {
  for (long long p = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; p < edges;
       p += static_cast<long long>(gridDim.x) * blockDim.x) {
    const Key key = sortedKeys[p];
    const Key relationBase = key - key % static_cast<Key>(nodes);
    outputs[p] = static_cast<int32_t>(key - relationBase);
    float weight = 1.0f;
    if (normalization != RelationNormalization::Sum) {
      const double inDegree = static_cast<double>(runLength(sortedKeys, edges, key));
      if (normalization == RelationNormalization::Mean) {
        weight = static_cast<float>(1.0 / inDegree);
      } else {
        const Key sourceKey = relationBase + static_cast<Key>(sortedSources[p]);
        const double outDegree = static_cast<double>(runLength(sourceKeys, edges, sourceKey));
        weight = static_cast<float>(1.0 / sqrt(inDegree * outDegree));
      }
    }
    weights[p] = weight;
  }
}

// The self pairs (i, i), weight 1, after the edges; and the pair rows 0 .. pairs - 1.
__global__ void appendSelfPairs(long long first, long long nodes, int32_t *inputs, int32_t *outputs, float *weights) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < nodes;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    inputs[first + i] = static_cast<int32_t>(i);
    outputs[first + i] = static_cast<int32_t>(i);
    weights[first + i] = 1.0f;
  }
}

__global__ void countUp(long long count, int32_t *values) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<long long>(gridDim.x) * blockDim.x)
    values[i] = static_cast<int32_t>(i);
}

template <typename T>
__global__ void gatherWeightedRowsKernel(const T *rows, const int32_t *pairRows, const float *weights,
                                         long long pairs, int channels, T *out) {
  const long long items = pairs * channels;
  for (long long item = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; item < items;
       item += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long pair = item / channels, channel = item % channels;
    out[item] = gpu::store<T>(weights[pair] * gpu::load(rows, static_cast<long long>(pairRows[pair]) * channels + channel));
  }
}

int significantBits(unsigned long long value) {
  int bits = 1;
  while (bits < 64 && (value >> bits) != 0)
    ++bits;
  return bits;
}

} // namespace

DeviceRelationGraph relationGraphGpu(DevicePointer sources, DevicePointer targets, DevicePointer relationOfEdge,
                                     int64_t edges, int64_t nodes, int32_t relations,
                                     RelationNormalization normalization, bool selfTerm, CUstream stream) {
  if (nodes <= 0 || relations <= 0)
    throw RuntimeError(fmt::format("relational graph: {} nodes and {} relations; both must be positive", nodes,
                                   relations));
  if (edges <= 0)
    throw RuntimeError("relational graph: no edges; a graph convolution of no edges is only its self term");
  const long long pairs = edges + (selfTerm ? nodes : 0);
  if (pairs > std::numeric_limits<int32_t>::max())
    throw RuntimeError(fmt::format("relational graph: {} edges{} make {} pairs, past the 2^31 - 1 the pair lists "
                                   "index",
                                   edges, selfTerm ? fmt::format(" and {} self pairs", nodes) : "", pairs));
  const cudaStream_t s = gpu::runtimeStream(stream);
  const auto *src = reinterpret_cast<const int32_t *>(sources), *dst = reinterpret_cast<const int32_t *>(targets),
             *rel = reinterpret_cast<const int32_t *>(relationOfEdge);
  const unsigned blocks = gpu::blocksFor(edges);

  DeviceBuffer firstBad(sizeof(unsigned long long), stream);
  firstBad.fill32(0xFFFFFFFFu, stream);
  findFirstBadEdge<<<blocks, gpu::kThreads, 0, s>>>(src, dst, rel, edges, nodes, relations,
                                                    gpu::as<unsigned long long>(firstBad));
  gpu::checkLaunch("findFirstBadEdge (relational graph)");
  const unsigned long long bad = firstBad.download<unsigned long long>()[0];
  if (bad < static_cast<unsigned long long>(edges)) {
    int32_t row[3];
    for (int field = 0; field < 3; ++field)
      checkCuda(cuMemcpyDtoH(&row[field], (field == 0 ? sources : field == 1 ? targets : relationOfEdge) + bad * 4, 4),
                "cuMemcpyDtoH", "(the refused edge)");
    const char *which = row[0] < 0 || row[0] >= nodes ? "src" : row[1] < 0 || row[1] >= nodes ? "dst" : "relation";
    const long long value = which[0] == 's' ? row[0] : which[0] == 'd' ? row[1] : row[2];
    throw RuntimeError(fmt::format("relational graph: edge row {} (src {}, dst {}, relation {}): {} {} is outside "
                                   "[0, {})",
                                   bad, row[0], row[1], row[2], which, value, which[0] == 'r' ? relations : nodes));
  }

  const int keyBits = significantBits(static_cast<unsigned long long>(relations) * static_cast<unsigned long long>(nodes));
  DeviceBuffer keys(edges * sizeof(Key), stream), sortedKeys(edges * sizeof(Key), stream);
  DeviceRelationGraph graph;
  graph.nodes = nodes;
  graph.relations = relations;
  graph.selfTerm = selfTerm;
  graph.normalization = normalization;
  graph.pairInputs = DeviceBuffer(pairs * sizeof(int32_t), stream);
  graph.pairOutputs = DeviceBuffer(pairs * sizeof(int32_t), stream);
  graph.pairWeights = DeviceBuffer(pairs * sizeof(float), stream);

  makeEdgeKeys<<<blocks, gpu::kThreads, 0, s>>>(dst, rel, edges, nodes, gpu::as<Key>(keys));
  gpu::checkLaunch("makeEdgeKeys (relational graph)");
  gpu::withScratch(s, "cub::DeviceRadixSort::SortPairs (relational graph edges)", [&](void *scratch, size_t &bytes) {
    return cub::DeviceRadixSort::SortPairs(scratch, bytes, gpu::as<Key>(keys), gpu::as<Key>(sortedKeys), src,
                                           gpu::as<int32_t>(graph.pairInputs), edges, 0, keyBits, s);
  });
  // The symmetric weight needs each source's out-degree in its relation: the (relation, source)
  // keys, sorted, searched per pair.
  DeviceBuffer sourceKeys;
  if (normalization == RelationNormalization::Symmetric) {
    makeEdgeKeys<<<blocks, gpu::kThreads, 0, s>>>(src, rel, edges, nodes, gpu::as<Key>(keys));
    gpu::checkLaunch("makeEdgeKeys (relational graph sources)");
    sourceKeys = DeviceBuffer(edges * sizeof(Key), stream);
    gpu::withScratch(s, "cub::DeviceRadixSort::SortKeys (relational graph sources)", [&](void *scratch, size_t &bytes) {
      return cub::DeviceRadixSort::SortKeys(scratch, bytes, gpu::as<Key>(keys), gpu::as<Key>(sourceKeys), edges, 0,
                                            keyBits, s);
    });
  }
  decodePairs<<<blocks, gpu::kThreads, 0, s>>>(gpu::as<Key>(sortedKeys), gpu::as<Key>(sourceKeys),
                                               gpu::as<int32_t>(graph.pairInputs), edges, nodes, normalization,
                                               gpu::as<int32_t>(graph.pairOutputs), gpu::as<float>(graph.pairWeights));
  gpu::checkLaunch("decodePairs (relational graph)");
  if (selfTerm) {
    appendSelfPairs<<<gpu::blocksFor(nodes), gpu::kThreads, 0, s>>>(edges, nodes, gpu::as<int32_t>(graph.pairInputs),
                                                                    gpu::as<int32_t>(graph.pairOutputs),
                                                                    gpu::as<float>(graph.pairWeights));
    gpu::checkLaunch("appendSelfPairs (relational graph)");
  }
  if (!graph.unitWeights()) {
    graph.pairRows = DeviceBuffer(pairs * sizeof(int32_t), stream);
    countUp<<<gpu::blocksFor(pairs), gpu::kThreads, 0, s>>>(pairs, gpu::as<int32_t>(graph.pairRows));
    gpu::checkLaunch("countUp (relational graph pair rows)");
  }
  DeviceBuffer offsets((relations + 1) * sizeof(int32_t), stream);
  relationOffsets<<<gpu::blocksFor(relations + 1), gpu::kThreads, 0, s>>>(gpu::as<Key>(sortedKeys), edges, nodes,
                                                                         relations, gpu::as<int32_t>(offsets));
  gpu::checkLaunch("relationOffsets (relational graph)");
  graph.pairOffsets = offsets.download<int32_t>(); // synchronises the stream
  if (selfTerm)
    graph.pairOffsets.push_back(static_cast<int32_t>(pairs));
  return graph;
}

DeviceGraphEdges uploadGraphEdges(const RelationalGraph &graph, CUstream stream) {
  std::vector<int32_t> sources, targets, relations;
  sources.reserve(graph.edges.size());
  targets.reserve(graph.edges.size());
  relations.reserve(graph.edges.size());
  for (const GraphEdge &edge : graph.edges) {
    sources.push_back(edge.source);
    targets.push_back(edge.target);
    relations.push_back(edge.relation);
  }
  if (sources.empty())
    throw RuntimeError(fmt::format("{}: no edges; a graph convolution of no edges is only its self term",
                                   graph.source.empty() ? graph.name : graph.source));
  return {DeviceBuffer::from(sources, stream), DeviceBuffer::from(targets, stream),
          DeviceBuffer::from(relations, stream), static_cast<int64_t>(sources.size())};
}

DeviceRelationGraph relationGraphGpu(const RelationalGraph &graph, RelationNormalization normalization,
                                     bool selfTerm, CUstream stream) {
  const DeviceGraphEdges edges = uploadGraphEdges(graph, stream);
  return relationGraphGpu(edges.sources.get(), edges.targets.get(), edges.relations.get(), edges.count, graph.nodes,
                          graph.relations, normalization, selfTerm, stream);
}

void gatherWeightedRows(DevicePointer rows, DevicePointer pairRows, DevicePointer weights, long long pairs,
                        int channels, uint32_t dtype, DevicePointer out, CUstream stream) {
  if (pairs <= 0)
    return;
  gpu::withElementType(dtype, [&](auto element) {
    using T = decltype(element);
    gatherWeightedRowsKernel<T><<<gpu::blocksFor(pairs * channels), gpu::kThreads, 0, gpu::runtimeStream(stream)>>>(
        reinterpret_cast<const T *>(rows), reinterpret_cast<const int32_t *>(pairRows),
        reinterpret_cast<const float *>(weights), pairs, channels, reinterpret_cast<T *>(out));
  });
  gpu::checkLaunch("gatherWeightedRows (R-GCN weight gradient)");
}

} // namespace sparsekgen
