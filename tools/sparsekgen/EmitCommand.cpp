#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "Commands.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/MLIRContext.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Lowering.h"
#include "sparsekgen/generator/SpecParser.h"
#include "sparsekgen/templates/Templates.h"

namespace sparsekgen {

namespace {
struct EmitOptions {
  std::string catalog;
  std::string stage = "mlir";
  std::string kernel;
  int sm = 0;
  std::string output;
};

const KernelSpec &selectKernel(const Catalog &catalog, const std::string &wanted, const std::string &path) {
  if (wanted.empty()) {
    if (catalog.kernels.size() == 1)
      return catalog.kernels.front();
    std::vector<std::string> names;
    for (const auto &spec : catalog.kernels)
      names.push_back(kernelName(spec));
    throw SpecError(path, fmt::format("the catalog holds {} kernels; choose one with --kernel:\n  {}", names.size(),
                                      fmt::join(names, "\n  ")));
  }
  for (const auto &spec : catalog.kernels)
    if (kernelName(spec) == wanted)
      return spec;
  throw SpecError(path, fmt::format("no kernel named {} in the catalog", wanted));
}

void runEmit(const EmitOptions &options) {
  Catalog catalog = loadCatalogFile(options.catalog);
  const KernelSpec &spec = selectKernel(catalog, options.kernel, options.catalog);
  int sm = options.sm == 0 ? spec.targetSms.front() : options.sm;
  if (std::find(spec.targetSms.begin(), spec.targetSms.end(), sm) == spec.targetSms.end())
    throw SpecError(options.catalog, fmt::format("--sm {} is not among the kernel's targets ({})", sm,
                                                 fmt::join(spec.targetSms, ", ")));

  mlir::DialectRegistry registry;
  registerGeneratorDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();
  auto module = buildKernelModule(context, spec);

  std::string result;
  if (options.stage == "mlir") {
    llvm::raw_string_ostream os(result);
    module->print(os);
  } else if (options.stage == "llvm") {
    result = lowerToLLVMIR(*module, sm);
  } else if (options.stage == "ptx") {
    result = lowerToPtx(*module, sm);
  } else {
    auto ptxas = findPtxas();
    if (!ptxas)
      throw GeneratorError("--emit=cubin needs ptxas (set SPARSEKGEN_PTXAS or CUDA_HOME)");
    if (options.output.empty() || options.output == "-")
      throw SpecError("--emit=cubin", "a cubin is binary; name an output file with -o");
    Cubin cubin = assemblePtx(*ptxas, lowerToPtx(*module, sm), sm, kernelName(spec));
    result.assign(cubin.image.begin(), cubin.image.end());
  }
  if (options.output.empty() || options.output == "-")
    fmt::print("{}", result);
  else
    writeFileAtomically(options.output, result);
}
} // namespace

void addEmitCommand(CLI::App &app) {
  static EmitOptions options;
  auto *command = app.add_subcommand("emit", "Generate one kernel and stop at a stage, for reading: the MLIR "
                                             "module, LLVM IR, PTX, or a cubin");
  command->add_option("catalog", options.catalog, "catalog or spec JSON file")->required()->check(CLI::ExistingFile);
  command->add_option("--emit", options.stage, "stage to stop at")
      ->check(CLI::IsMember({"mlir", "llvm", "ptx", "cubin"}))
      ->capture_default_str();
  command->add_option("-k,--kernel", options.kernel, "kernel name (needed when the catalog holds several)");
  command->add_option("--sm", options.sm, "target SM for llvm/ptx/cubin, e.g. 90 (default: the spec's first)");
  command->add_option("-o,--output", options.output, "output file (default: standard output)");
  command->callback([] { runEmit(options); });
}

} // namespace sparsekgen
