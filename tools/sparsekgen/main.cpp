#include <cstdio>
#include <fmt/format.h>

#include "Commands.h"
#include "sparsekgen/Errors.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/tools/CommandLine.h"
#include "sparsekgen/generator/Interrupt.h"
#include "sparsekgen/generator/Errors.h"

int main(int argc, char **argv) {
  CLI::App app{"sparsekgen: generate sparse-convolution GPU kernels from JSON specs (JSON -> MLIR -> PTX/cubin ->\n"
               "a static library the runtime dispatches from). See docs/spec-reference.md for the spec format."};
  sparsekgen::tools::applyConventions(app, "sparsekgen",
                                      "Examples:\n"
             "  sparsekgen build templates/catalogs/default.json -o out     write the bundle and manifest\n"
             "  sparsekgen inspect out                                      registers, shared memory, spills\n"
             "  sparsekgen emit spec.json --emit=ptx --sm 90                read the PTX of one kernel\n"
             "  sparsekgen explain out --in 32 --out 32 --outputs 80000 --pairs 400000 [--table t.json]\n"
             "  sparsekgen plan out bench/networks/minkunet42_1.0x.json --dtype bf16   how each layer launches\n"
             "An interrupted build (SIGINT/SIGTERM) exits 130/143 and writes nothing.");
  app.require_subcommand(1);
  sparsekgen::addBuildCommand(app);
  sparsekgen::addEmitCommand(app);
  sparsekgen::addInspectCommand(app);
  sparsekgen::addExplainCommand(app);
  sparsekgen::addPlanCommand(app);
  try {
    if (int status = sparsekgen::tools::parseCommandLine(app, argc, argv); status >= 0)
      return status;
  } catch (const sparsekgen::SpecError &error) {
    fmt::print(stderr, "sparsekgen: error: {}\n", error.what());
    return 2;
  } catch (const sparsekgen::RuntimeError &error) { // the runtime's readers: manifests, tables, workloads
    fmt::print(stderr, "sparsekgen: error: {}\n", error.what());
    return 2;
  } catch (const sparsekgen::OutputPathError &error) { // -o names a device, a FIFO, a non-bundle directory
    fmt::print(stderr, "sparsekgen: error: {}\n", error.what());
    return 2;
  } catch (const sparsekgen::Interrupted &error) {
    fmt::print(stderr, "sparsekgen: {}; nothing was written (an existing output is unchanged)\n", error.what());
    return 128 + error.signal();
  } catch (const std::exception &error) {
    fmt::print(stderr, "sparsekgen: error: {}\n", error.what());
    return 1;
  }
  return 0;
}
