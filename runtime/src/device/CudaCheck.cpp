#include <cuda.h>

#include <fmt/format.h>

#include "sparsekgen/Errors.h"

namespace sparsekgen {

void checkCuda(int code, const char *call, const std::string &context) {
  const CUresult result = static_cast<CUresult>(code);
  if (result == CUDA_SUCCESS)
    return;
  const char *name = nullptr, *description = nullptr;
  cuGetErrorName(result, &name);
  cuGetErrorString(result, &description);
  throw CudaError(static_cast<int>(result),
                  fmt::format("{} failed with {}: {}{}{}", call, name ? name : "unknown CUDA error",
                              description ? description : "no description", context.empty() ? "" : " ", context));
}

} // namespace sparsekgen
