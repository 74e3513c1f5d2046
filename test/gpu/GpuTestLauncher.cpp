// Starts a GPU test binary only where a GPU can run it. GPU test binaries link libcuda.so.1, so on
// a machine without the driver they cannot even start; this launcher checks first and reports the
// tests as skipped (exit 77, CTest's SKIP_RETURN_CODE) with the reason, never as passed.
//
//   sparsekgen-gpu-test-launcher <test binary> [args...]
//   sparsekgen-gpu-test-launcher --probe          (prints whether GPU tests can run here)
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace {

constexpr int kSkipped = 77;

// Empty when a CUDA device is usable; otherwise why not.
std::string whyNoGpu() {
  void *driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!driver)
    return "no CUDA driver on this machine (libcuda.so.1 cannot be loaded)";
  using InitFn = int (*)(unsigned);
  using CountFn = int (*)(int *);
  auto init = reinterpret_cast<InitFn>(dlsym(driver, "cuInit"));
  auto count = reinterpret_cast<CountFn>(dlsym(driver, "cuDeviceGetCount"));
  if (!init || !count)
    return "libcuda.so.1 lacks cuInit or cuDeviceGetCount";
  int result = init(0);
  if (result != 0)
    return "cuInit failed with CUDA error " + std::to_string(result) + " (no usable GPU)";
  int devices = 0;
  if (count(&devices) != 0 || devices == 0)
    return "the CUDA driver sees no GPU";
  return {};
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <gpu test binary> [args...] | --probe\n", argv[0]);
    return 2;
  }
  std::string why = whyNoGpu();
  if (std::strcmp(argv[1], "--probe") == 0) {
    std::printf("GPU tests: %s\n", why.empty() ? "a GPU is present; they run" : ("SKIPPED: " + why).c_str());
    return 0;
  }
  if (!why.empty()) {
    std::printf("SKIPPED: %s\n", why.c_str());
    return kSkipped;
  }
  execv(argv[1], argv + 1);
  std::perror("execv");
  return 1;
}
