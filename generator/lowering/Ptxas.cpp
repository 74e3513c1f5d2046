#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"

#include "sparsekgen/generator/Errors.h"
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

Cubin assemblePtx(const std::string &ptxas, const std::string &ptx, int sm, const std::string &kernelName) {
  TempFile input("ptx"), output("cubin"), log("log");
  {
    std::ofstream file(input.str(), std::ios::binary);
    file << ptx;
  }
  std::string arch = fmt::format("-arch=sm_{}", sm);
  std::string inputPath = input.str(), outputPath = output.str(), logPath = log.str();
  llvm::SmallVector<llvm::StringRef> args = {ptxas, arch, "-O3", "-v", inputPath, "-o", outputPath};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, llvm::StringRef(logPath), llvm::StringRef(logPath)};
  std::string error;
  int status = llvm::sys::ExecuteAndWait(ptxas, args, std::nullopt, redirects, 0, 0, &error);
  std::string messages = readFile(logPath);
  if (status != 0)
    throw GeneratorError(fmt::format("ptxas failed on {} for sm_{} (exit {}){}:\n{}", kernelName, sm, status,
                                     error.empty() ? "" : ", " + error, messages));
  Cubin cubin;
  std::string image = readFile(outputPath);
  cubin.image.assign(image.begin(), image.end());
  cubin.functions = parsePtxasReport(messages);
  if (!cubin.functions.count(kernelName))
    throw GeneratorError(fmt::format("ptxas reported no entry function {} for sm_{}:\n{}", kernelName, sm, messages));
  return cubin;
}

} // namespace sparsekgen
