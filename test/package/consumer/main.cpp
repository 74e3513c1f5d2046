// An application of the installed package (or of the source tree through add_subdirectory): two
// bundles of different names in one binary, the CPU runtime, an exception crossing from the
// runtime library, and, where a GPU is present, both bundles opened and a kernel of each loaded.
#include <cstdio>
#include <string>
#include <vector>

#include "lidar_kernels.h"
#include "sparsekgen/Context.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelMap.h"
#include "sparsekgen/Version.h"
#include "sparsekgen_kernels.h"

int main() {
  std::printf("sparsekgen %s: bundle sparsekgen_kernels holds %u kernels, lidar_kernels %u\n", SPARSEKGEN_VERSION,
              sparsekgen_kernels.kernel_count, lidar_kernels.kernel_count);
  if (sparsekgen_kernels.kernel_count == 0 || lidar_kernels.kernel_count != LIDAR_KERNELS_KERNEL_COUNT)
    return 1;

  std::vector<sparsekgen::Coordinate> coordinates = {{0, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
  sparsekgen::KernelMap map = sparsekgen::buildKernelMapCpu(coordinates, sparsekgen::ConvGeometry{});
  std::printf("3x3x3 map of 3 voxels: %d outputs, volume %d\n", static_cast<int>(map.outputCount()), map.volume);
  try {
    sparsekgen::requireUniqueCoordinates({{0, 1, 2, 3}, {0, 1, 2, 3}});
    std::printf("a duplicate coordinate was accepted\n");
    return 1;
  } catch (const sparsekgen::RuntimeError &error) {
    std::printf("duplicate refused: %s\n", error.what());
  }

  std::string why;
  if (sparsekgen::Context::deviceCount(&why) == 0) {
    std::printf("no GPU here (%s): bundles not opened\n", why.c_str());
    return 0;
  }
  sparsekgen::Context defaults(0, sparsekgen_kernels), lidar(0, lidar_kernels);
  const auto &first = defaults.load(*defaults.kernels().front());
  const auto &second = lidar.load(*lidar.kernels().front());
  std::printf("on %s: loaded %s (%s) and %s (%s)\n", defaults.device().name.c_str(), first.record->name,
              first.imageDescription.c_str(), second.record->name, second.imageDescription.c_str());
  return 0;
}
