// The loss scale of mixed-precision training, on the host (no CUDA): CPU-only so tools and unit
// tests use it without a GPU.
#pragma once

namespace sparsekgen {

// Dynamic loss scaling for fp16 training (bf16 trains unscaled: scale 1, never changed): a step
// whose gradients overflowed is skipped and the scale halved; after `growthInterval` clean steps in
// a row it doubles, up to `maxScale`.
class DynamicLossScale {
public:
  explicit DynamicLossScale(float initial = 65536.0f, int growthInterval = 2000, float maxScale = 16777216.0f)
      : scale_(initial), growthInterval_(growthInterval), maxScale_(maxScale) {}
  float scale() const { return scale_; }
  // After a step's overflow check: whether to apply the step (no overflow), updating the scale.
  bool update(bool overflowed);

private:
  float scale_;
  int growthInterval_, cleanSteps_ = 0;
  float maxScale_;
};

} // namespace sparsekgen
