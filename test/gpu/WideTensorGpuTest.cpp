// Convolutions on tensors past 2^31 elements: about 10.6 million voxels at 256 channels in fp16
// (2.7e9 elements per feature tensor). Dispatch must give such a layer a 64-bit kernel and a small
// layer of the same shape its 32-bit one; a 32-bit kernel handed the large layer must refuse it.
// Every 64-bit fp16 forward kernel of the default catalog, the dispatched input-gradient kernel
// and the sorted one, and the dispatched weight-gradient kernel run on the large layer; outputs
// are NaN-poisoned first (every row must be written) and compared with float64 on sampled rows,
// the last rows past element 2^31 among them. (CatalogSweep checks every 64-bit kernel in full
// on small inputs.)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "sparsekgen/Conv.h"
#include "sparsekgen/ConvDispatch.h"
#include "sparsekgen/ElementTypes.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/GpuKernelMaps.h"
#include "TestContext.h"
#include "sparsekgen_kernels.h"

namespace sparsekgen {
namespace {

using testclouds::context;

constexpr int kChannels = 256, kVolume = 27;
// fp16 outputs of 3,600-term sums. The weight gradient's entries sum 5 million products each, in
// fp32 K chunks: at the runtime's 3 chunks per offset (1.8 million pairs each) rounding alone gives
// 3.2e-3 on the H200, at 64 chunks 1.4e-4; a fifth of the pairs read from wrong rows, as an
// indexing fault past element 2^31 would cause, gives errors of order 1.
constexpr double kForwardTolerance = 1e-2, kWeightGradTolerance = 1e-2;

uint64_t mix(uint64_t x) { // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Multiples of 1/1024 in [-1, 1]: exact in fp16, so the reference sees the kernels' operands.
float featureValue(uint64_t seed, long long row, int column) {
  uint64_t h = mix(seed * 0x9e3779b97f4a7c15ull ^ mix(static_cast<uint64_t>(row) * kChannels + column));
  return static_cast<float>(static_cast<int>(h % 2049) - 1024) / 1024.0f;
}
constexpr uint64_t kInputSeed = 1, kOutputGradSeed = 2, kWeightSeed = 3;
float weightValue(int k, int ci, int co) { return featureValue(kWeightSeed, k * kChannels + ci, co) / 16.0f; }

// A block of 280 x 280 x 270 cells, each occupied with probability 1/2 (the cloud of a dense indoor
// scan at a fine voxel size): about 10.6 million voxels, 14 neighbours each.
std::vector<Coordinate> halfFilledBlock() {
  std::vector<Coordinate> cloud;
  cloud.reserve(10'700'000);
  for (int x = 0; x < 280; ++x)
    for (int y = 0; y < 280; ++y)
      for (int z = 0; z < 270; ++z)
        if (mix((static_cast<uint64_t>(x) << 40) | (static_cast<uint64_t>(y) << 20) | z) & 1)
          cloud.push_back({0, x, y, z});
  return cloud;
}

// Runs body(begin, end) over [0, count) on every core.
template <typename Body> void parallelFor(long long count, Body body) {
  const int threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] { body(count * t / threads, count * (t + 1) / threads); });
  for (auto &thread : pool)
    thread.join();
}

// A [rows, 256] fp16 device tensor of featureValue(seed, ...), generated and uploaded in slabs.
DeviceBuffer featureTensor(uint64_t seed, long long rows) {
  DeviceBuffer tensor(static_cast<size_t>(rows) * kChannels * 2);
  constexpr long long kSlab = 1 << 20;
  std::vector<uint16_t> host(static_cast<size_t>(kSlab) * kChannels);
  for (long long first = 0; first < rows; first += kSlab) {
    const long long count = std::min(kSlab, rows - first);
    parallelFor(count, [&](long long begin, long long end) {
      for (long long r = begin; r < end; ++r)
        for (int c = 0; c < kChannels; ++c)
          host[static_cast<size_t>(r) * kChannels + c] = floatToHalf(featureValue(seed, first + r, c));
    });
    checkCuda(cuMemcpyHtoD(tensor.get() + static_cast<size_t>(first) * kChannels * 2, host.data(),
                           static_cast<size_t>(count) * kChannels * 2),
              "cuMemcpyHtoD", "(uploading a feature slab)");
  }
  return tensor;
}

DeviceBuffer weightTensor() {
  std::vector<uint16_t> host(static_cast<size_t>(kVolume) * kChannels * kChannels);
  for (int k = 0; k < kVolume; ++k)
    for (int ci = 0; ci < kChannels; ++ci)
      for (int co = 0; co < kChannels; ++co)
        host[(static_cast<size_t>(k) * kChannels + ci) * kChannels + co] = floatToHalf(weightValue(k, ci, co));
  return DeviceBuffer::from(host);
}

// The first and last 64 rows (the last lie past element 2^31 of a 256-channel tensor) and 896
// spread over the rest.
std::vector<long long> sampledRows(long long rows) {
  std::vector<long long> sample;
  for (long long r = 0; r < 64; ++r)
    sample.push_back(r);
  for (long long i = 0; i < 896; ++i)
    sample.push_back(64 + (rows - 128) * i / 896);
  for (long long r = rows - 64; r < rows; ++r)
    sample.push_back(r);
  return sample;
}

std::vector<float> downloadRow(CUdeviceptr tensor, long long row, uint32_t dtype) {
  const int bytes = elementBytes(dtype);
  std::vector<uint8_t> host(static_cast<size_t>(kChannels) * bytes);
  checkCuda(cuMemcpyDtoH(host.data(), tensor + static_cast<size_t>(row) * kChannels * bytes, host.size()),
            "cuMemcpyDtoH", "(a sampled output row)");
  return decodeElements(host, dtype);
}

// The float64 rows `reference` gives for `rows`, computed on every core.
std::vector<std::vector<double>> referenceRows(const std::vector<long long> &rows,
                                               const std::function<std::vector<double>(long long)> &reference) {
  std::vector<std::vector<double>> expected(rows.size());
  parallelFor(static_cast<long long>(rows.size()), [&](long long begin, long long end) {
    for (long long r = begin; r < end; ++r)
      expected[r] = reference(rows[r]);
  });
  return expected;
}

// ||gpu - expected|| / ||expected|| over the sampled rows of a [rows, 256] result.
double sampledError(CUdeviceptr tensor, uint32_t dtype, const std::vector<long long> &rows,
                    const std::vector<std::vector<double>> &expected) {
  double difference = 0, norm = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<float> gpu = downloadRow(tensor, rows[r], dtype);
    for (int c = 0; c < kChannels; ++c) {
      difference += (gpu[c] - expected[r][c]) * (gpu[c] - expected[r][c]);
      norm += expected[r][c] * expected[r][c];
    }
  }
  return std::sqrt(difference / std::max(norm, 1e-300));
}

// One large layer: the block's submanifold map, its transpose, and the tensors of both passes.
struct WideLayer {
  std::shared_ptr<const SparseCoordinates> coordinates;
  DeviceKernelMap map, transposed;
  std::vector<int32_t> outInMap, inOutMap; // host copies, [rows, 27]
  long long rows = 0, pairs = 0;
  DeviceBuffer input, weight, outputGrad;
  std::vector<float> weightHost;

  WideLayer() {
    coordinates = SparseCoordinates::fromHost(halfFilledBlock());
    map = buildKernelMapGpu(coordinates, ConvGeometry{});
    transposed = transposedKernelMapGpu(map);
    rows = coordinates->size();
    outInMap = map.downloadOutInMap();
    inOutMap = transposed.downloadOutInMap();
    pairs = std::count_if(outInMap.begin(), outInMap.end(), [](int32_t v) { return v >= 0; });
    input = featureTensor(kInputSeed, rows);
    outputGrad = featureTensor(kOutputGradSeed, rows);
    weight = weightTensor();
    for (int k = 0; k < kVolume; ++k)
      for (int ci = 0; ci < kChannels; ++ci)
        for (int co = 0; co < kChannels; ++co)
          weightHost.push_back(weightValue(k, ci, co));
  }

  float w(int k, int ci, int co) const { return weightHost[(static_cast<size_t>(k) * kChannels + ci) * kChannels + co]; }

  // y[j][co] = sum_k sum_ci x[map(j, k)][ci] w[k][ci][co]
  std::vector<double> forwardRow(long long j) const {
    std::vector<double> out(kChannels, 0.0);
    for (int k = 0; k < kVolume; ++k)
      if (int32_t i = outInMap[static_cast<size_t>(j) * kVolume + k]; i >= 0)
        for (int ci = 0; ci < kChannels; ++ci) {
          const double x = featureValue(kInputSeed, i, ci);
          for (int co = 0; co < kChannels; ++co)
            out[co] += x * w(k, ci, co);
        }
    return out;
  }

  // dx[i][ci] = sum over the outputs j reading i at offset k of dy[j][co] w[k][ci][co]
  std::vector<double> inputGradRow(long long i) const {
    std::vector<double> out(kChannels, 0.0);
    for (int k = 0; k < kVolume; ++k)
      if (int32_t j = inOutMap[static_cast<size_t>(i) * kVolume + k]; j >= 0)
        for (int co = 0; co < kChannels; ++co) {
          const double dy = featureValue(kOutputGradSeed, j, co);
          for (int ci = 0; ci < kChannels; ++ci)
            out[ci] += dy * w(k, ci, co);
        }
    return out;
  }

  DispatchedKernel dispatch(const char *operation) const {
    LayerKey key = layerKey(kChannels, kChannels, kVolume, false, "f16", {}, rows, pairs);
    key = operationKey(key, operation);
    return dispatchConvKernel(context(), nullptr, describeKernels(context().kernels()), key, map, pairs);
  }

  ConvForwardArguments forwardArguments(const skg_kernel_record &kernel, int splits, CUdeviceptr output) const {
    ConvForwardArguments args;
    args.input = input.get();
    args.weight = weight.get();
    args.outInMap = map.outInMap.get();
    args.output = output;
    args.inputs = args.outputs = static_cast<int>(rows);
    args.inChannels = args.outChannels = kChannels;
    args.kernelVolume = kVolume;
    args.splits = splits;
    return args;
  }
};

WideLayer &layer() {
  static std::unique_ptr<WideLayer> instance;
  if (!instance) {
    context();
    instance = std::make_unique<WideLayer>();
  }
  return *instance;
}

bool endsWith(const std::string &text, const std::string &suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<const skg_kernel_record *> wideKernels(skg_operation operation) {
  std::vector<const skg_kernel_record *> kernels;
  for (uint32_t i = 0; i < sparsekgen_kernels.kernel_count; ++i) {
    const skg_kernel_record &k = sparsekgen_kernels.kernels[i];
    if (k.index_bits == 64 && k.operation == operation && k.operand_type == SKG_F16)
      kernels.push_back(&k);
  }
  return kernels;
}

bool fuses(const skg_kernel_record &kernel, uint32_t op) {
  return std::find(kernel.epilogue_ops, kernel.epilogue_ops + kernel.epilogue_op_count, op) !=
         kernel.epilogue_ops + kernel.epilogue_op_count;
}

TEST(WideTensors, TheLayerIsPastThirtyTwoBitIndexing) {
  const WideLayer &l = layer();
  EXPECT_GT(l.rows * kChannels, SKG_MAX_32BIT_ELEMENTS) << l.rows << " voxels";
  EXPECT_GT(l.rows, 10'000'000);
  std::printf("wide layer: %lld voxels x %d channels = %lld elements, %lld pairs\n", l.rows, kChannels,
              l.rows * kChannels, l.pairs);
}

TEST(WideTensors, DispatchTakesSixtyFourBitKernelsOnlyForTheLargeLayer) {
  const WideLayer &l = layer();
  for (const char *operation : {"forward", "input_grad", "weight_grad"}) {
    DispatchedKernel wide = l.dispatch(operation);
    EXPECT_EQ(wide.kernel->index_bits, 64u) << operation << ": " << wide.kernel->name;
    EXPECT_TRUE(endsWith(wide.kernel->name, SKG_WIDE_INDEX_SUFFIX)) << wide.kernel->name;
    EXPECT_NE(wide.dispatch.reason.find("32-bit kernels index"), std::string::npos) << wide.dispatch.reason;
  }
  // The first 100,000 voxels: the same shape, 32-bit kernels.
  std::vector<Coordinate> all = l.coordinates->download();
  all.resize(100'000);
  DeviceKernelMap small = buildKernelMapGpu(SparseCoordinates::fromHost(all), ConvGeometry{});
  for (const char *operation : {"forward", "input_grad", "weight_grad"}) {
    LayerKey key = operationKey(layerKey(kChannels, kChannels, kVolume, false, "f16", {}, 100'000, 1'400'000), operation);
    DispatchedKernel narrow =
        dispatchConvKernel(context(), nullptr, describeKernels(context().kernels()), key, small, 1'400'000);
    EXPECT_EQ(narrow.kernel->index_bits, 32u) << operation << ": " << narrow.kernel->name;
  }
}

TEST(WideTensors, ThirtyTwoBitKernelsRefuseTheLargeLayer) {
  const WideLayer &l = layer();
  const std::string wide = l.dispatch("forward").kernel->name;
  const skg_kernel_record &narrow =
      context().findKernel(wide.substr(0, wide.size() - std::strlen(SKG_WIDE_INDEX_SUFFIX)));
  ASSERT_EQ(narrow.index_bits, 32u);
  DeviceBuffer output(static_cast<size_t>(l.rows) * kChannels * 2);
  try {
    convForward(context(), narrow, l.forwardArguments(narrow, 1, output.get()));
    FAIL() << "a 32-bit kernel accepted " << l.rows * kChannels << " elements";
  } catch (const RuntimeError &error) {
    EXPECT_NE(std::string(error.what()).find("has " + std::to_string(l.rows * kChannels) + " elements"),
              std::string::npos)
        << error.what();
  }
}

TEST(WideTensors, EverySixtyFourBitForwardKernelMatchesFloat64OnSampledRows) {
  const WideLayer &l = layer();
  auto kernels = wideKernels(SKG_FORWARD);
  ASSERT_FALSE(kernels.empty());
  std::vector<float> scale(kChannels), shift(kChannels);
  for (int c = 0; c < kChannels; ++c) {
    scale[c] = 0.5f + static_cast<float>(c % 7) / 8.0f;
    shift[c] = static_cast<float>(c % 5) / 4.0f - 0.5f;
  }
  DeviceBuffer deviceScale = DeviceBuffer::from(scale), deviceShift = DeviceBuffer::from(shift);
  DeviceBuffer output(static_cast<size_t>(l.rows) * kChannels * 2);
  const auto rows = sampledRows(l.rows);
  const auto plain = referenceRows(rows, [&](long long j) { return l.forwardRow(j); });
  auto fused = plain; // relu(y * scale + shift)
  for (auto &row : fused)
    for (int c = 0; c < kChannels; ++c)
      row[c] = std::max(0.0, row[c] * scale[c] + shift[c]);
  for (const skg_kernel_record *kernel : kernels) {
    const bool epilogue = fuses(*kernel, SKG_EPILOGUE_SCALE_SHIFT);
    ConvForwardArguments args = l.forwardArguments(*kernel, 1, output.get());
    args.scale = deviceScale.get();
    args.shift = deviceShift.get();
    DeviceKernelMapExtras extras;
    if (auto request = mapExtrasRequest(*kernel, 1)) {
      extras = kernelMapExtrasGpu(l.map, *request);
      args.permutation = extras.splitPermutations.get();
      args.tileMasks = extras.tileMasks.get();
      args.maskWords = extras.groupMaskWords;
    }
    output.fill(0xFF);
    convForward(context(), *kernel, args);
    checkCuda(cuCtxSynchronize(), "cuCtxSynchronize", std::string("after ") + kernel->name);
    EXPECT_EQ(countNonFiniteRows(output.get(), static_cast<int>(l.rows), kChannels), 0) << kernel->name;
    const double error = sampledError(output.get(), SKG_F16, rows, epilogue ? fused : plain);
    EXPECT_LT(error, kForwardTolerance) << kernel->name;
    std::printf("%s: relative error %.3g over %zu sampled rows\n", kernel->name, error, rows.size());
  }
}

TEST(WideTensors, InputGradientKernelsMatchFloat64OnSampledRows) {
  const WideLayer &l = layer();
  DispatchedKernel dispatched = l.dispatch("input_grad");
  std::vector<const skg_kernel_record *> kernels = {dispatched.kernel};
  for (const skg_kernel_record *k : wideKernels(SKG_INPUT_GRAD))
    if (k->dataflow == SKG_IMPLICIT_GEMM_SORTED && k != dispatched.kernel) {
      kernels.push_back(k);
      break;
    }
  DeviceBuffer inputGrad(static_cast<size_t>(l.rows) * kChannels * 2);
  const auto rows = sampledRows(l.rows);
  const auto expected = referenceRows(rows, [&](long long i) { return l.inputGradRow(i); });
  for (const skg_kernel_record *kernel : kernels) {
    const int splits = kernel == dispatched.kernel ? dispatched.splits : 1;
    ConvBackwardArguments args;
    args.input = l.input.get();
    args.weight = l.weight.get();
    args.outputGrad = l.outputGrad.get();
    args.inputGrad = inputGrad.get();
    args.inputs = args.outputs = static_cast<int>(l.rows);
    args.inChannels = args.outChannels = kChannels;
    args.kernelVolume = kVolume;
    args.transposedMap = l.transposed.outInMap.get();
    args.inputGradSplits = splits;
    DeviceKernelMapExtras extras;
    if (auto request = mapExtrasRequest(*kernel, splits)) {
      extras = kernelMapExtrasGpu(l.transposed, *request);
      args.transposedPermutation = extras.splitPermutations.get();
      args.transposedTileMasks = extras.tileMasks.get();
      args.transposedMaskWords = extras.groupMaskWords;
    }
    inputGrad.fill(0xFF);
    convBackward(context(), kernel, nullptr, args);
    checkCuda(cuCtxSynchronize(), "cuCtxSynchronize", std::string("after ") + kernel->name);
    EXPECT_EQ(countNonFiniteRows(inputGrad.get(), static_cast<int>(l.rows), kChannels), 0) << kernel->name;
    const double error = sampledError(inputGrad.get(), SKG_F16, rows, expected);
    EXPECT_LT(error, kForwardTolerance) << kernel->name;
    std::printf("%s: relative error %.3g over %zu sampled rows\n", kernel->name, error, rows.size());
  }
}

TEST(WideTensors, WeightGradientMatchesFloat64OnSampledEntries) {
  const WideLayer &l = layer();
  DispatchedKernel d = l.dispatch("weight_grad");
  ASSERT_EQ(d.kernel->index_bits, 64u);
  ConvBackwardArguments args;
  args.input = l.input.get();
  args.weight = l.weight.get();
  args.outputGrad = l.outputGrad.get();
  DeviceBuffer weightGrad(static_cast<size_t>(kVolume) * kChannels * kChannels * 4);
  args.weightGrad = weightGrad.get();
  args.inputs = args.outputs = static_cast<int>(l.rows);
  args.inChannels = args.outChannels = kChannels;
  args.kernelVolume = kVolume;
  MapExtrasRequest request;
  request.pairs = true;
  DeviceKernelMapExtras extras = kernelMapExtrasGpu(l.map, request);
  args.pairInputs = extras.pairInputs.get();
  args.pairOutputs = extras.pairOutputs.get();
  args.pairOffsets = extras.pairOffsets;

  // dW[k][ci][co] = sum_j x[map(j, k)][ci] dy[j][co], for 4 offsets x 8 x 8 channels, the rows
  // past element 2^31 included.
  const std::vector<int> offsets = {0, 5, 13, 26}, channels = {0, 1, 37, 64, 127, 128, 200, 255};
  std::vector<double> reference(offsets.size() * channels.size() * channels.size(), 0.0);
  for (size_t o = 0; o < offsets.size(); ++o) {
    std::vector<std::vector<double>> partial(std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<int> next{0};
    parallelFor(l.rows, [&](long long begin, long long end) {
      std::vector<double> sums(channels.size() * channels.size(), 0.0);
      for (long long j = begin; j < end; ++j)
        if (int32_t i = l.outInMap[static_cast<size_t>(j) * kVolume + offsets[o]]; i >= 0)
          for (size_t a = 0; a < channels.size(); ++a) {
            const double x = featureValue(kInputSeed, i, channels[a]);
            for (size_t b = 0; b < channels.size(); ++b)
              sums[a * channels.size() + b] += x * featureValue(kOutputGradSeed, j, channels[b]);
          }
      partial[next++] = std::move(sums);
    });
    for (const auto &sums : partial)
      for (size_t e = 0; e < sums.size(); ++e)
        reference[o * sums.size() + e] += sums[e];
  }

  // The runtime's K-chunk count (0), then the most the dataflow takes (shorter fp32 sums).
  for (int splits : {d.splits, dataflowInfo(d.kernel->dataflow).maxSplits}) {
    args.weightGradSplits = splits;
    weightGrad.fill(0xFF);
    convBackward(context(), nullptr, d.kernel, args);
    checkCuda(cuCtxSynchronize(), "cuCtxSynchronize", std::string("after ") + d.kernel->name);
    std::vector<float> gpu = weightGrad.download<float>();
    EXPECT_TRUE(std::all_of(gpu.begin(), gpu.end(), [](float v) { return std::isfinite(v); }));
    double difference = 0, norm = 0;
    for (size_t o = 0; o < offsets.size(); ++o)
      for (size_t a = 0; a < channels.size(); ++a)
        for (size_t b = 0; b < channels.size(); ++b) {
          const double expected = reference[(o * channels.size() + a) * channels.size() + b];
          const double actual =
              gpu[(static_cast<size_t>(offsets[o]) * kChannels + channels[a]) * kChannels + channels[b]];
          difference += (actual - expected) * (actual - expected);
          norm += expected * expected;
        }
    const double error = std::sqrt(difference / norm);
    EXPECT_LT(error, kWeightGradTolerance) << d.kernel->name << " with " << splits << " splits";
    std::printf("%s, %d K chunks per offset (%s): relative error %.3g over %zu sampled entries\n", d.kernel->name,
                weightGradSplits(*d.kernel, args), splits == 0 ? "the runtime's choice" : "the most", error,
                reference.size());
  }
}

} // namespace
} // namespace sparsekgen
