#include <algorithm>

#include "sparsekgen/DynamicLossScale.h"

namespace sparsekgen {

bool DynamicLossScale::update(bool overflowed) {
  if (overflowed) {
    scale_ = std::max(scale_ * 0.5f, 1.0f);
    cleanSteps_ = 0;
    return false;
  }
  if (++cleanSteps_ >= growthInterval_) {
    scale_ = std::min(scale_ * 2.0f, maxScale_);
    cleanSteps_ = 0;
  }
  return true;
}

} // namespace sparsekgen
