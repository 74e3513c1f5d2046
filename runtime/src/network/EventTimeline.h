// CUDA events around the stages and steps of a profiled network run or training step.
#pragma once

#include <vector>

#include <cuda.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

// One event per mark; intervals are read after the run synchronises. Disabled, it records nothing.
class EventTimeline {
public:
  explicit EventTimeline(bool enabled) : enabled_(enabled) {}
  ~EventTimeline() {
    for (CUevent e : events_)
      cuEventDestroy(e);
  }
  EventTimeline(const EventTimeline &) = delete;
  EventTimeline &operator=(const EventTimeline &) = delete;
  bool enabled() const { return enabled_; }
  // Records an event now; returns its index (-1 when disabled).
  int mark(CUstream stream = nullptr) {
    if (!enabled_)
      return -1;
    CUevent event = nullptr;
    checkCuda(cuEventCreate(&event, CU_EVENT_DEFAULT), "cuEventCreate", "(network profile)");
    checkCuda(cuEventRecord(event, stream), "cuEventRecord", "(network profile)");
    events_.push_back(event);
    return static_cast<int>(events_.size()) - 1;
  }
  double between(int first, int second) const {
    float ms = 0;
    checkCuda(cuEventElapsedTime(&ms, events_[first], events_[second]), "cuEventElapsedTime", "(network profile)");
    return ms;
  }

private:
  bool enabled_;
  std::vector<CUevent> events_;
};

} // namespace sparsekgen
