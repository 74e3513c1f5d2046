// The command-line conventions every sparsekgen tool follows: `--version` from the project's one
// version, `TOOL: error: ...` for a bad command line, and one set of exit statuses:
//   0 success, 1 a failure while running, 2 bad input (a usage error, or a file or value the tool
//   refuses: the message says which and where), 3 no usable GPU (no driver, no device).
#pragma once

#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/Version.h"

namespace sparsekgen::tools {

constexpr int kExitFailure = 1, kExitBadInput = 2, kExitNoGpu = 3;

inline const char *exitStatusText() {
  return "Exit status: 0 success, 1 failure while running, 2 bad input (the message says where), 3 no usable GPU.";
}

// --version, the error prefix and the exit statuses in --help's footer (after `footer`, if any).
inline void applyConventions(CLI::App &app, const std::string &tool, const std::string &footer = "") {
  app.set_version_flag("--version", tool + " " SPARSEKGEN_VERSION);
  app.failure_message([tool](const CLI::App *, const CLI::Error &error) {
    return fmt::format("{}: error: {}\nRun with --help for more information.\n", tool, error.what());
  });
  app.footer(footer.empty() ? std::string(exitStatusText()) : footer + "\n" + exitStatusText());
}

// Parses the command line; returns -1 to go on, else the status to exit with (0 after --help or
// --version, 2 after a usage error, whose message CLI11 printed with the prefix).
inline int parseCommandLine(CLI::App &app, int argc, char **argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &error) {
    return app.exit(error) == 0 ? 0 : kExitBadInput;
  }
  return -1;
}

// CUDA results that mean there is no GPU to run on: no driver, a driver too old, no device.
inline bool meansNoGpu(int cudaResult) {
  return cudaResult == 100 /* CUDA_ERROR_NO_DEVICE */ || cudaResult == 35 /* CUDA_ERROR_INSUFFICIENT_DRIVER */ ||
         cudaResult == 34 /* CUDA_ERROR_STUB_LIBRARY */ || cudaResult == 3 /* CUDA_ERROR_NOT_INITIALIZED */;
}

// Runs `body` and turns what it throws into `TOOL: error: ...` and the matching exit status:
// RuntimeError and OutputPathError are refused input (2), a CudaError without a GPU is 3, anything
// else 1.
template <typename Body> int runReportingErrors(const std::string &tool, Body body) {
  try {
    return body();
  } catch (const RuntimeError &error) {
    fmt::print(stderr, "{}: error: {}\n", tool, error.what());
    return kExitBadInput;
  } catch (const OutputPathError &error) {
    fmt::print(stderr, "{}: error: {}\n", tool, error.what());
    return kExitBadInput;
  } catch (const CudaError &error) {
    fmt::print(stderr, "{}: error: {}\n", tool, error.what());
    return meansNoGpu(error.code()) ? kExitNoGpu : kExitFailure;
  } catch (const std::exception &error) {
    fmt::print(stderr, "{}: error: {}\n", tool, error.what());
    return kExitFailure;
  }
}

} // namespace sparsekgen::tools
