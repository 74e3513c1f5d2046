#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/generator/Bundle.h"
#include "sparsekgen/generator/CompileKernels.h"
#include "sparsekgen/generator/Interrupt.h"
#include "sparsekgen/generator/SpecParser.h"

namespace sparsekgen {

namespace {
struct BuildOptions {
  std::string catalog;
  std::string output;
  BundleNaming naming;
  bool noCubin = false;
  bool verbose = false;
  bool quiet = false;
  unsigned jobs = std::clamp(std::thread::hardware_concurrency(), 1u, kMaxCompileJobs);
  unsigned ptxasTimeoutSeconds = kDefaultPtxasTimeoutSeconds;
};

void runBuild(const BuildOptions &options) {
  auto start = std::chrono::steady_clock::now();
  InterruptHandlers interrupts; // Ctrl-C stops the build and leaves the previous bundle in place
  Catalog catalog = loadCatalogFile(options.catalog);
  DirectoryReplacement::requireReplaceable(options.output, "manifest.json");
  if (options.verbose)
    for (const auto &dropped : catalog.dropped)
      fmt::print(stderr, "dropped {} (from {}): {}\n", dropped.name, dropped.pointer, dropped.reason);

  CompileOptions compile;
  compile.jobs = options.jobs;
  compile.ptxasTimeoutSeconds = options.ptxasTimeoutSeconds;
  if (!options.noCubin) {
    compile.ptxas = findPtxas();
    if (!compile.ptxas)
      fmt::print(stderr, "note: ptxas not found (set SPARSEKGEN_PTXAS or CUDA_HOME); the bundle holds PTX only, "
                         "which the driver compiles at load time, and the manifest has no register counts\n");
  }
  fmt::print(stderr, "building {} kernels from {} ({} dropped by legality rules{}) with {} job(s)\n",
             catalog.kernels.size(), options.catalog, catalog.dropped.size(),
             catalog.dropped.empty() || options.verbose ? "" : "; --verbose lists them", compile.jobs);
  // On a terminal one line that updates in place; in a log (not a terminal) a line per kernel.
  const bool terminal = isatty(fileno(stderr)) != 0;
  compile.progress = [&](size_t done, size_t total, const BundledKernel &kernel) {
    if (options.quiet)
      return;
    std::string detail;
    for (const auto &image : kernel.images)
      if (image.report)
        detail += fmt::format(" sm_{}:{}r/{}sp", image.sm, image.report->registers,
                              image.report->spillStoreBytes + image.report->spillLoadBytes +
                                  image.companionSpillBytes());
    fmt::print(stderr, "{}[{:>{}}/{}] {}{}{}", terminal ? "\r\033[K" : "", done, fmt::formatted_size("{}", total),
               total, kernel.name, detail, terminal && done < total ? "" : "\n");
  };
  auto kernels = compileKernels(catalog.kernels, compile);
  BundleInfo info = writeBundle(options.output, kernels, options.naming, options.catalog);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(stderr, "wrote {0}/{1}, {0}/{2}, {0}/manifest.json (bundle {3}, hash {4:.12}) in {5:.1f} s\n",
             options.output, options.naming.libraryFile(), options.naming.headerFile(), options.naming.name,
             info.hash, seconds);
}
} // namespace

void addBuildCommand(CLI::App &app) {
  static BuildOptions options;
  auto *command = app.add_subcommand(
      "build", "Generate every kernel of a catalog and write a bundle: libNAME.a, NAME.h and manifest.json");
  command->add_option("catalog", options.catalog, "catalog or spec JSON file")->required()->check(CLI::ExistingFile);
  command->add_option("-o,--output", options.output, "bundle directory (created if missing)")->required();
  command
      ->add_option("-n,--name", options.naming.name,
                   "the bundle's C symbol, also naming libNAME.a and NAME.h; bundles of different names "
                   "link into one binary")
      ->capture_default_str()
      ->check(CLI::Validator([](std::string &name) { return BundleNaming::whyInvalid(name); }, "C identifier"));
  command->add_option("-j,--jobs", options.jobs, "kernels compiled in parallel (default: all cores)")
      ->check(CLI::Range(1u, kMaxCompileJobs));
  command->add_option("--ptxas-timeout", options.ptxasTimeoutSeconds,
                      "seconds one ptxas run may take before it is killed and the build fails")
      ->check(CLI::Range(1u, 86400u))
      ->capture_default_str();
  command->add_flag("--no-cubin", options.noCubin, "skip ptxas: bundle PTX only");
  command->add_flag("-v,--verbose", options.verbose, "list the cross-product members the legality rules dropped");
  command->add_flag("-q,--quiet", options.quiet, "no line per compiled kernel (the summary lines stay)");
  command->callback([] { runBuild(options); });
}

} // namespace sparsekgen
