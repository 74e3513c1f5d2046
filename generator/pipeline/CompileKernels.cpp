#include "sparsekgen/generator/CompileKernels.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "mlir/IR/MLIRContext.h"

#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Interrupt.h"
#include "sparsekgen/generator/Lowering.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

std::vector<BundledKernel> compileKernels(const std::vector<KernelSpec> &specs, const CompileOptions &options) {
  std::vector<BundledKernel> kernels(specs.size());
  std::atomic<size_t> next{0};
  std::mutex progressMutex;
  size_t done = 0;
  std::exception_ptr failure;

  auto worker = [&] {
    mlir::DialectRegistry registry;
    registerGeneratorDialects(registry);
    mlir::MLIRContext context(registry, mlir::MLIRContext::Threading::DISABLED);
    context.loadAllAvailableDialects();
    for (size_t i = next++; i < specs.size(); i = next++) {
      try {
        throwIfInterrupted();
        const KernelSpec &spec = specs[i];
        BundledKernel kernel{spec, kernelName(spec), launchAbi(spec), {}};
        auto module = buildKernelModule(context, spec);
        // A cubin per target, and the PTX of the lowest target: drivers JIT it for newer GPUs.
        for (int sm : spec.targetSms) {
          std::string ptx = lowerToPtx(*module, sm);
          if (options.ptxas) {
            Cubin cubin = assemblePtx(*options.ptxas, ptx, sm, kernel.name, options.ptxasTimeoutSeconds);
            KernelImage image{sm, true, std::string(cubin.image.begin(), cubin.image.end()),
                              cubin.functions.at(kernel.name), {}};
            for (size_t f = 1; f < kernel.abi.functions.size(); ++f)
              image.companionReports[kernel.abi.functions[f].name] = cubin.functions.at(kernel.abi.functions[f].name);
            kernel.images.push_back(std::move(image));
          }
          if (sm == spec.targetSms.front())
            kernel.images.push_back({sm, false, std::move(ptx), std::nullopt, {}});
        }
        std::lock_guard lock(progressMutex);
        kernels[i] = std::move(kernel);
        ++done;
        if (options.progress)
          options.progress(done, specs.size(), kernels[i]);
      } catch (...) {
        std::lock_guard lock(progressMutex);
        if (!failure)
          failure = std::current_exception();
        next = specs.size(); // stop the other workers after their current kernel
      }
    }
  };

  if (options.jobs > kMaxCompileJobs)
    throw GeneratorError(fmt::format("{} jobs asked for; at most {}", options.jobs, kMaxCompileJobs));
  unsigned jobs = std::max(1u, std::min<unsigned>(options.jobs, specs.size()));
  std::vector<std::thread> threads;
  try {
    for (unsigned j = 1; j < jobs; ++j)
      threads.emplace_back(worker);
  } catch (const std::system_error &) {
    // The system gave fewer threads than asked: the ones started and this one share the work.
  }
  worker();
  for (auto &thread : threads)
    thread.join();
  if (failure)
    std::rethrow_exception(failure);
  return kernels;
}

} // namespace sparsekgen
