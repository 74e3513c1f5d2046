// Inputs shared by the GPU tests: random clouds with LiDAR-like neighbourhoods, and the real scans.
#pragma once

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "sparsekgen/KernelMap.h"

namespace sparsekgen::testclouds {

// `points` unique coordinates at a density of about 1/8 in a cube around `centre`, spread over the
// given batch indices (which may skip values).
inline std::vector<Coordinate> randomCloud(int points, uint32_t seed, std::vector<int> batches = {0, 1},
                                           int centre = 0) {
  int side = static_cast<int>(std::cbrt(8.0 * points / batches.size())) + 1;
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> axis(centre - side / 2, centre + side - side / 2 - 1);
  std::set<Coordinate> seen;
  std::vector<Coordinate> cloud;
  while (static_cast<int>(cloud.size()) < points) {
    Coordinate c{batches[random() % batches.size()], axis(random), axis(random), axis(random)};
    if (seen.insert(c).second)
      cloud.push_back(c);
  }
  return cloud;
}

// `text` as a test name: every character that is not a letter or digit becomes '_'.
inline std::string testName(std::string text) {
  for (auto &c : text)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  return text;
}

// The build tree's test/data, or $SPARSEKGEN_TEST_DATA when the binary runs elsewhere.
inline std::string testDataDirectory() {
  const char *overridden = std::getenv("SPARSEKGEN_TEST_DATA");
  return overridden && *overridden ? overridden : SPARSEKGEN_TEST_DATA;
}

// The source tree (bench/networks, bench/tables): $SPARSEKGEN_SOURCE_DIR when the binary runs
// on another machine, else the tree it was built from.
inline std::string sourceDirectory() {
  const char *overridden = std::getenv("SPARSEKGEN_SOURCE_DIR");
  return overridden && *overridden ? overridden : SPARSEKGEN_SOURCE_DIR;
}

// The shared real-data folder (scans/ and voxels/): $SPARSEKGEN_SHARED_DATA, else ../shared/data
// beside the source tree.
inline std::string sharedDataDirectory() {
  const char *overridden = std::getenv("SPARSEKGEN_SHARED_DATA");
  return overridden && *overridden ? overridden : SPARSEKGEN_SHARED_DATA;
}

} // namespace sparsekgen::testclouds
