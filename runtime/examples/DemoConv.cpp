// The example application: links the generated kernel bundle and the runtime, voxelizes a real
// LiDAR scan, runs the bundle's default kernel (its first) as a 3x3x3 submanifold convolution and
// reports its error against the float64 reference and its time.
//
//   sparsekgen-demo [scan.bin] [--voxel 0.05] [--channels 32]
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/PointCloud.h"
#include "sparsekgen/Verification.h"
#include "sparsekgen_kernels.h"

int main(int argc, char **argv) {
  std::string scan = SPARSEKGEN_DEMO_SCAN;
  float voxelSize = 0.05f;
  int channels = 32;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--voxel" && i + 1 < argc)
      voxelSize = std::stof(argv[++i]);
    else if (arg == "--channels" && i + 1 < argc)
      channels = std::stoi(argv[++i]);
    else if (arg == "-h" || arg == "--help") {
      fmt::print("usage: sparsekgen-demo [scan.bin (x y z intensity float32)] [--voxel 0.05] [--channels 32]\n");
      return 0;
    } else
      scan = arg;
  }
  try {
    std::string why;
    if (sparsekgen::Context::deviceCount(&why) == 0) {
      fmt::print(stderr, "sparsekgen-demo: no GPU: {}\n", why);
      return 3;
    }
    sparsekgen::Context context(0, sparsekgen_kernels);
    const auto &device = context.device();
    auto cloud = sparsekgen::loadPointFile(scan, 4);
    auto voxels = sparsekgen::voxelize(cloud, voxelSize);
    sparsekgen::ConvGeometry geometry; // 3x3x3 submanifold
    auto problem = sparsekgen::makeConvProblem(voxels, geometry, channels, channels, 2024);
    auto reference = problem.reference();
    auto gpu = sparsekgen::uploadConvProblem(problem);
    const skg_kernel_record &kernel = *context.kernels().front();
    auto check = sparsekgen::runAndCheck(context, kernel, gpu, reference);
    double ms = sparsekgen::medianMilliseconds(
        [&] { sparsekgen::convForward(context, kernel, gpu.args); }, 10, 50);
    long long pairs = problem.map.pairCount();
    double flops = 2.0 * channels * channels * pairs;

    fmt::print("device        {} (sm_{}, {} SMs)\n", device.name, device.sm, device.multiprocessors);
    fmt::print("scan          {}: {} points -> {} voxels at {} m\n", scan, cloud.points(), voxels.size(), voxelSize);
    fmt::print("convolution   3x3x3 submanifold, Cin = Cout = {}, {} neighbour pairs\n", channels,
               pairs);
    fmt::print("kernel        {} ({})\n", kernel.name, context.load(kernel).imageDescription);
    fmt::print("error         {:.3e} relative to the float64 reference (rows unwritten: {})\n", check.relativeError,
               check.unwrittenRows);
    fmt::print("time          {:.4f} ms median of 50 (CUDA events), {:.2f} TFLOP/s useful\n", ms,
               flops / (ms * 1e-3) / 1e12);
    bool ok = check.relativeError <= 1e-2 && check.unwrittenRows == 0;
    fmt::print("result        {}\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
  } catch (const std::exception &error) {
    fmt::print(stderr, "sparsekgen-demo: error: {}\n", error.what());
    return 1;
  }
}
