// Template definitions of eventMilliseconds and medianMilliseconds (see Verification.h).
#pragma once

#include <utility>
#include <vector>

namespace sparsekgen {

template <typename Launch>
std::vector<float> eventMilliseconds(Launch &&launch, int warmup, int iterations, CUstream stream) {
  for (int i = 0; i < warmup; ++i)
    launch();
  CUevent start = nullptr, stop = nullptr;
  checkCuda(cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  checkCuda(cuEventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  std::vector<float> times;
  for (int i = 0; i < iterations; ++i) {
    checkCuda(cuEventRecord(start, stream), "cuEventRecord");
    launch();
    checkCuda(cuEventRecord(stop, stream), "cuEventRecord");
    checkCuda(cuEventSynchronize(stop), "cuEventSynchronize", "while timing");
    float ms = 0;
    checkCuda(cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    times.push_back(ms);
  }
  cuEventDestroy(start);
  cuEventDestroy(stop);
  return times;
}

template <typename Launch>
double medianMilliseconds(Launch &&launch, int warmup, int iterations, CUstream stream) {
  return medianOfEventTimes(eventMilliseconds(std::forward<Launch>(launch), warmup, iterations, stream));
}

} // namespace sparsekgen
