#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"

#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Interrupt.h"
#include "sparsekgen/generator/Lowering.h"

namespace sparsekgen {

namespace {

std::string readFile(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream buffer;
  buffer << file.rdbuf();
  return buffer.str();
}

// A temporary file removed when the scope ends, whatever happens in between.
struct TempFile {
  llvm::SmallString<128> path;
  explicit TempFile(const char *suffix) {
    if (llvm::sys::fs::createTemporaryFile("sparsekgen", suffix, path))
      throw GeneratorError(fmt::format("cannot create a temporary .{} file", suffix));
  }
  ~TempFile() { llvm::sys::fs::remove(path); }
  std::string str() const { return std::string(path.str()); }
};

int captureInt(const std::string &text, const std::regex &pattern) {
  std::smatch match;
  return std::regex_search(text, match, pattern) ? std::stoi(match[1].str()) : 0;
}

} // namespace

std::optional<std::string> findPtxas() {
  for (const char *variable : {"SPARSEKGEN_PTXAS"}) {
    if (const char *value = std::getenv(variable); value && *value)
      return std::string(value);
  }
  if (const char *cudaHome = std::getenv("CUDA_HOME"); cudaHome && *cudaHome) {
    std::string candidate = std::string(cudaHome) + "/bin/ptxas";
    if (llvm::sys::fs::can_execute(candidate))
      return candidate;
  }
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return std::string("/usr/local/cuda/bin/ptxas");
  if (auto found = llvm::sys::findProgramByName("ptxas"))
    return *found;
  return std::nullopt;
}

std::map<std::string, PtxasReport> parsePtxasReport(const std::string &output) {
  // ptxas reports each entry function in a section that starts "Compiling entry function 'NAME'".
  static const std::regex entry(R"(Compiling entry function '([^']+)')");
  std::map<std::string, PtxasReport> reports;
  auto begin = std::sregex_iterator(output.begin(), output.end(), entry);
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    size_t start = it->position(0);
    auto next = std::next(it);
    size_t end = next == std::sregex_iterator() ? output.size() : static_cast<size_t>(next->position(0));
    std::string section = output.substr(start, end - start);
    PtxasReport report;
    report.registers = captureInt(section, std::regex(R"(Used (\d+) registers)"));
    report.sharedBytes = captureInt(section, std::regex(R"((\d+) bytes smem)"));
    report.stackFrameBytes = captureInt(section, std::regex(R"((\d+) bytes stack frame)"));
    report.spillStoreBytes = captureInt(section, std::regex(R"((\d+) bytes spill stores)"));
    report.spillLoadBytes = captureInt(section, std::regex(R"((\d+) bytes spill loads)"));
    reports[(*it)[1].str()] = report;
  }
  return reports;
}

namespace {

// Runs ptxas and waits, polling so that a timeout or an interrupt kills it. (llvm::sys::Wait's own
// timeout uses alarm(), one per process, which the parallel workers would share.) Returns the exit
// status, or throws.
int runPtxas(llvm::ArrayRef<llvm::StringRef> args, llvm::ArrayRef<std::optional<llvm::StringRef>> redirects,
             const std::string &kernelName, int sm, unsigned timeoutSeconds) {
  std::string error;
  bool failedToStart = false;
  llvm::sys::ProcessInfo process =
      llvm::sys::ExecuteNoWait(args.front(), args, std::nullopt, redirects, 0, &error, &failedToStart);
  if (failedToStart)
    throw GeneratorError(fmt::format("cannot run ptxas ({}): {}", args.front().str(), error));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeoutSeconds);
  for (;;) {
    llvm::sys::ProcessInfo result = llvm::sys::Wait(process, /*SecondsToWait=*/0, &error);
    if (result.Pid != 0)
      return result.ReturnCode;
    const bool late = std::chrono::steady_clock::now() > deadline;
    if (late || pendingInterrupt()) {
      ::kill(process.Pid, SIGKILL);
      llvm::sys::Wait(process, std::nullopt, &error);
      throwIfInterrupted();
      throw GeneratorError(fmt::format("ptxas ran past {} s on {} for sm_{} and was killed (raise the limit "
                                       "with --ptxas-timeout)",
                                       timeoutSeconds, kernelName, sm));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

} // namespace

Cubin assemblePtx(const std::string &ptxas, const std::string &ptx, int sm, const std::string &kernelName,
                  unsigned timeoutSeconds) {
  TempFile input("ptx"), output("cubin"), log("log");
  {
    std::ofstream file(input.str(), std::ios::binary);
    file << ptx;
  }
  // Architecture-specific PTX (".target sm_90a", warpgroup MMA) assembles only for that target.
  const bool archSpecific = ptx.find(fmt::format(".target sm_{}a", sm)) != std::string::npos;
  std::string arch = fmt::format("-arch=sm_{}{}", sm, archSpecific ? "a" : "");
  std::string inputPath = input.str(), outputPath = output.str(), logPath = log.str();
  llvm::SmallVector<llvm::StringRef> args = {ptxas, arch, "-O3", "-v", inputPath, "-o", outputPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(logPath), llvm::StringRef(logPath)};
  int status = runPtxas(args, redirects, kernelName, sm, timeoutSeconds);
  std::string messages = readFile(logPath);
  if (status != 0)
    throw GeneratorError(fmt::format("ptxas failed on {} for sm_{} ({}):\n{}", kernelName, sm,
                                     status < 0 ? std::string("it crashed") : fmt::format("exit {}", status),
                                     messages));
  Cubin cubin;
  std::string image = readFile(outputPath);
  cubin.image.assign(image.begin(), image.end());
  cubin.functions = parsePtxasReport(messages);
  if (!cubin.functions.count(kernelName))
    throw GeneratorError(fmt::format("ptxas reported no entry function {} for sm_{}:\n{}", kernelName, sm, messages));
  return cubin;
}

} // namespace sparsekgen
