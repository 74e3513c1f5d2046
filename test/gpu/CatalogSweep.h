// What the sweeps over every kernel of the default catalog share (forward and backward): the test
// inputs, the channel counts per alignment, the expectations of one check, and the tally printed at
// the end of the run.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "sparsekgen/KernelMap.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Verification.h"
#include "TestClouds.h"

namespace sparsekgen::testclouds {

struct TestInput {
  std::string name;
  std::vector<Coordinate> coordinates;
  ConvGeometry geometry;
};

// The inputs every kernel meets: random clouds of sizes no tile divides, submanifold, strided and
// large-volume geometries (volumes above 32 need several mask words per row: 4 for 125, 11 for
// 343), and a real KITTI scan. Sorted and split kernels take volumes up to 343, so every kernel
// meets every geometry.
//
// SPARSEKGEN_SWEEP=small gives three small inputs instead (a random cloud, a strided 3x3x3 one and
// a coarsely voxelized KITTI scan): for the compute-sanitizer runs (docs/reliability.md), whose
// racecheck slows every shared-memory access by orders of magnitude.
inline const std::vector<TestInput> &sweepInputs() {
  static const std::vector<TestInput> all = [] {
    std::vector<TestInput> list;
    if (const char *sweep = std::getenv("SPARSEKGEN_SWEEP"); sweep && std::string(sweep) == "small") {
      list.push_back({"random_1000_submanifold", randomCloud(1000, 2), ConvGeometry{}});
      list.push_back({"random_1501_strided_3x3x3", randomCloud(1501, 9), ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}});
      list.push_back({"kitti_000008_submanifold_0.5m",
                      voxelize(loadPointFile(testDataDirectory() + "/kitti_000008.bin", 4), 0.5f), ConvGeometry{}});
      return list;
    }
    list.push_back({"random_1000_submanifold", randomCloud(1000, 2), ConvGeometry{}});
    list.push_back({"random_8192_submanifold", randomCloud(8192, 1), ConvGeometry{}});
    list.push_back({"random_30001_strided_2x2x2", randomCloud(30001, 4), ConvGeometry{{2, 2, 2}, {2, 2, 2}, {1, 1, 1}}});
    list.push_back({"random_9001_strided_3x3x3", randomCloud(9001, 9), ConvGeometry{{3, 3, 3}, {2, 2, 2}, {1, 1, 1}}});
    list.push_back({"random_3000_5x5x5", randomCloud(3000, 7), ConvGeometry{{5, 5, 5}, {1, 1, 1}, {1, 1, 1}}});
    list.push_back({"random_2000_7x7x7", randomCloud(2000, 8), ConvGeometry{{7, 7, 7}, {1, 1, 1}, {1, 1, 1}}});
    list.push_back({"kitti_000008_submanifold",
                    voxelize(loadPointFile(testDataDirectory() + "/kitti_000008.bin", 4), 0.05f), ConvGeometry{}});
    return list;
  }();
  return all;
}

// The index of the sweep input called `name` (a test bug if there is none).
inline size_t sweepInputIndex(const std::string &name) {
  for (size_t i = 0; i < sweepInputs().size(); ++i)
    if (sweepInputs()[i].name == name)
      return i;
  ADD_FAILURE() << "no sweep input " << name;
  return 0;
}

// Channel counts a kernel of `alignment` takes, including counts no wider alignment takes and
// counts below one CTA tile.
inline std::vector<std::pair<int, int>> channelPairsFor(uint32_t alignment) {
  switch (alignment) {
  case 1:
    return {{3, 5}, {13, 20}};
  case 2:
    return {{6, 10}, {18, 34}};
  case 4:
    return {{12, 20}};
  default:
    return {{32, 32}, {16, 48}, {48, 48}};
  }
}

// Relative-error tolerance per kernel. Operands are exactly representable (the reference reads
// the same rounded values) and accumulation is fp32, so the error is the output's rounding: about
// 5e-4 for fp16 (11-bit significand), 4e-3 for bf16 (8-bit), 1e-6 for fp32; tf32 math truncates
// fp32 operands to a 10-bit mantissa (about 1e-3); ffma is exact fp32.
inline double toleranceFor(const skg_kernel_record &kernel) {
  if (kernel.math == SKG_MATH_TF32)
    return 5e-3;
  if (kernel.math == SKG_MATH_FFMA)
    return 1e-5;
  switch (kernel.output_type) {
  case SKG_BF16:
    return 2e-2;
  case SKG_F32:
    return 1e-3;
  default:
    return 1e-2;
  }
}

// A forward problem on sweep input `input` with its float64 reference and device copy, made once
// for every kernel of the same types, epilogue and channels. A context must be current (the
// device copy needs one).
struct VerifiedForwardProblem {
  ConvProblem problem;
  std::vector<double> reference;
  DeviceConvProblem device;
};
inline VerifiedForwardProblem &verifiedForwardProblem(size_t input, int cin, int cout, const ConvTypes &types,
                                                      uint32_t seed) {
  using Key = std::tuple<size_t, int, int, uint32_t, uint32_t, std::vector<uint32_t>, uint32_t>;
  static std::map<Key, std::unique_ptr<VerifiedForwardProblem>> cache;
  Key key{input, cin, cout, types.operand, types.output, types.epilogueOps, seed};
  if (auto it = cache.find(key); it != cache.end())
    return *it->second;
  auto verified = std::make_unique<VerifiedForwardProblem>();
  verified->problem = makeConvProblem(sweepInputs()[input].coordinates, sweepInputs()[input].geometry, cin, cout,
                                      seed, types);
  verified->reference = verified->problem.reference();
  verified->device = uploadConvProblem(verified->problem);
  return *cache.emplace(key, std::move(verified)).first->second;
}

// Kernels and checks of one sweep, printed when the run ends.
class CatalogTally : public ::testing::Environment {
public:
  explicit CatalogTally(std::string label) : label_(std::move(label)) {}
  void TearDown() override {
    if (kernels_ > 0)
      std::printf("%s: %d of %d kernels passed every check (%d checks)\n", label_.c_str(), passed_, kernels_,
                  checks_);
  }
  // The expectations of one check: every row written, the error within `tolerance`.
  bool expectPasses(const ConvCheck &check, double tolerance, const std::string &kernel, const std::string &what) {
    ++checks_;
    EXPECT_EQ(check.unwrittenRows, 0) << kernel << " on " << what;
    EXPECT_LE(check.relativeError, tolerance) << kernel << " on " << what;
    return check.unwrittenRows == 0 && check.relativeError <= tolerance;
  }
  void countKernel(bool passed) {
    ++kernels_;
    passed_ += passed;
  }

private:
  std::string label_;
  int kernels_ = 0, passed_ = 0, checks_ = 0;
};

// A tally registered with gtest (which owns it) for the run's end.
inline CatalogTally &registerTally(const char *label) {
  auto *tally = new CatalogTally(label);
  ::testing::AddGlobalTestEnvironment(tally);
  return *tally;
}

} // namespace sparsekgen::testclouds
