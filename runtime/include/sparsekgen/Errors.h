// Runtime errors. CUDA failures name the call, the kernel and the launch configuration.
#pragma once

#include <stdexcept>
#include <string>

namespace sparsekgen {

// Bad arguments or input data: the message names the value and what was expected.
class RuntimeError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class CudaError : public std::runtime_error {
public:
  CudaError(int code, std::string message) : std::runtime_error(std::move(message)), code_(code) {}
  int code() const { return code_; }

private:
  int code_;
};

// Throws CudaError("<call> failed with <NAME>: <description> <context>") unless `result` (a
// CUresult) is CUDA_SUCCESS. Declared here, without the driver API's header, so that every layer of
// the runtime reports CUDA failures the same way without including the Context.
void checkCuda(int result, const char *call, const std::string &context = "");

} // namespace sparsekgen
