#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "Commands.h"
#include "llvm/Support/FileSystem.h"
#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/SpecParser.h"

namespace sparsekgen {

void printKernelTable(const nlohmann::json &manifest) {
  const auto &kernels = manifest.at("kernels");
  size_t nameWidth = 6;
  for (const auto &kernel : kernels)
    nameWidth = std::max(nameWidth, kernel.at("name").get<std::string>().size());
  fmt::print("{:<{}}  {:>5}  {:>7}  {:>9}  {:>6}  {:>6}\n", "kernel", nameWidth, "sm", "threads", "smem (B)", "regs",
             "spills");
  for (const auto &kernel : kernels) {
    const auto &launch = kernel.at("launch").at("functions").at(0); // the main kernel
    bool any = false;
    for (const auto &image : kernel.at("images")) {
      if (image.at("format") != "cubin")
        continue;
      any = true;
      int spills = image.at("spill_store_bytes").get<int>() + image.at("spill_load_bytes").get<int>() +
                   image.value("companion_spill_bytes", 0);
      fmt::print("{:<{}}  {:>5}  {:>7}  {:>9}  {:>6}  {:>6}\n", kernel.at("name").get<std::string>(), nameWidth,
                 fmt::format("sm_{}", image.at("sm").get<int>()), launch.at("threads_per_block").get<int>(),
                 launch.at("dynamic_shared_memory_bytes").get<int>() +
                     image.at("static_shared_memory_bytes").get<int>(),
                 image.at("registers").get<int>(), spills == 0 ? std::string("0") : fmt::format("{} B", spills));
    }
    if (!any)
      fmt::print("{:<{}}  {:>5}  {:>7}  {:>9}  {:>6}  {:>6}\n", kernel.at("name").get<std::string>(), nameWidth, "ptx",
                 launch.at("threads_per_block").get<int>(), launch.at("dynamic_shared_memory_bytes").get<int>(), "-",
                 "-");
  }
}

std::string readManifestText(const std::string &path, std::string *manifestPath) {
  *manifestPath = llvm::sys::fs::is_directory(path) ? path + "/manifest.json" : path;
  std::ifstream file(*manifestPath);
  if (!file)
    throw SpecError(*manifestPath, "cannot open the manifest");
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

nlohmann::json loadManifest(const std::string &path) {
  std::string manifestPath;
  nlohmann::json manifest = parseJsonText(readManifestText(path, &manifestPath), manifestPath);
  if (!manifest.is_object() || manifest.value("format", "") != "sparsekgen-bundle")
    throw SpecError(manifestPath, "not a sparsekgen bundle manifest (no \"format\": \"sparsekgen-bundle\")");
  return manifest;
}

void addInspectCommand(CLI::App &app) {
  auto *command = app.add_subcommand("inspect", "Print the kernel table (registers, shared memory, spills) of a "
                                                "bundle directory or its manifest.json");
  static std::string path;
  command->add_option("bundle", path, "bundle directory or manifest.json")->required();
  command->callback([] { printKernelTable(loadManifest(path)); });
}

} // namespace sparsekgen
