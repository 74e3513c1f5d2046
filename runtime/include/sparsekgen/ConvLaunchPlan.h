// How the executor launches one conv step of a network plan on a bundle's kernels: at the layer's
// channels or with them zero-padded, with its epilogue fused or left to an element-wise pass. CPU
// only, so `sparsekgen explain --network` shows what a run will do before it runs.
#pragma once

#include <string>
#include <vector>

#include "sparsekgen/ConfigTable.h"
#include "sparsekgen/Network.h"

namespace sparsekgen {

// The channels the step's kernel runs with (zero-padded past the layer's), the epilogue the kernel
// fuses, and whether the step's epilogue runs afterwards as an element-wise pass.
struct ConvLaunchPlan {
  int in = 0, out = 0;
  std::vector<std::string> epilogue;
  bool epilogueUnfused = false;
};

// As planned where a kernel of the bundle takes the step; else the input channels zero-padded to a
// multiple of 8 (a first layer's 3 or 4 channels); else the convolution alone, at its own or
// padded channels, with the epilogue left to an element-wise pass (a padded output cannot carry a
// fused residual). Kernels the heuristic never chooses (tf32 for f32 layers) do not count.
// RuntimeError naming the layer when no kernel takes it even alone.
ConvLaunchPlan chooseConvLaunch(const std::vector<KernelDescription> &kernels, const Network &network,
                                const PlanStep &step);

// One line for explain: "fused [scale_shift, relu]", "input padded 3 -> 8, fused [...]",
// "epilogue [scale_shift, relu] unfused: no kernel fuses it; an element-wise pass runs it".
std::string describeConvLaunch(const ConvLaunchPlan &launch, const PlanStep &step);

} // namespace sparsekgen
