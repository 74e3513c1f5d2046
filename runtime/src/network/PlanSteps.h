// What the network executors (NetworkExecutor, GraphNetworkExecutor) share about a plan: its
// parameters checked and uploaded, which tensors each step frees, and the steps that are not
// layers (element-wise ops and concatenation).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <cuda.h>

#include "sparsekgen/DeviceBuffer.h"
#include "sparsekgen/Network.h"
#include "sparsekgen/NetworkExecutor.h"

namespace sparsekgen {

// The vector parameters a step reads (bias, folded batch-norm scale and shift), on the device in f32.
void uploadStepVectors(const PlanStep &step, const NetworkParameters &parameters, const Network &network,
                       std::map<std::string, DeviceBuffer> &onDevice);

// Per plan step: the tensors it reads last (never the input or an output), freed after it runs.
std::vector<std::vector<std::string>> tensorsFreedAfter(const Network &network, const std::vector<PlanStep> &plan);

// The step's element-wise ops (skg_epilogue_op values) on `from` into `out`, on the default stream:
// an element-wise step, or the epilogue of a layer whose kernel does not fuse it.
void launchElementwiseOps(const PlanStep &step, const std::vector<uint32_t> &ops,
                          const std::map<std::string, DeviceBuffer> &parameters,
                          const std::map<std::string, DeviceTensor> &tensors, CUdeviceptr from,
                          const DeviceTensor &out, uint32_t dtype);

// A concat step's inputs side by side into `out`, on the default stream.
void launchConcat(const PlanStep &step, const std::map<std::string, DeviceTensor> &tensors, const DeviceTensor &out,
                  uint32_t dtype);

} // namespace sparsekgen
