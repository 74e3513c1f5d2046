// A kernel bundle: the static library an application links (libNAME.a), its header (NAME.h) and
// manifest.json. The archive holds one host object whose data is the BundleAbi.h tables and
// the PTX/cubin images, so no compiler is needed to produce it and none at run time to use it.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sparsekgen/generator/KernelSpec.h"
#include "sparsekgen/generator/LaunchAbi.h"
#include "sparsekgen/generator/Lowering.h"

namespace sparsekgen {

struct KernelImage {
  int sm = 0;
  bool cubin = false;
  std::string bytes;                 // PTX text or cubin bytes
  std::optional<PtxasReport> report;          // cubins: the main kernel
  std::map<std::string, PtxasReport> companionReports; // cubins: each companion function, by name

  // Spilled bytes (stores and loads) of the companion functions together.
  int companionSpillBytes() const;
};

struct BundledKernel {
  KernelSpec spec;
  std::string name;
  LaunchAbi abi;
  std::vector<KernelImage> images;
};

// What a bundle is called: its one external symbol (`extern const skg_bundle NAME;`), its library
// libNAME.a and its header NAME.h. Several bundles of different names link into one binary.
struct BundleNaming {
  static constexpr const char *kDefaultName = "sparsekgen_kernels";
  static constexpr size_t kMaxNameLength = 64;
  std::string name = kDefaultName;

  std::string libraryFile() const { return "lib" + name + ".a"; }
  std::string headerFile() const { return name + ".h"; }
  // NAME upper-cased: the header's guard and macros (NAME_KERNEL_COUNT, NAME_HAS_<kernel>).
  std::string macroPrefix() const;
  // Empty when `name` is a C identifier of at most kMaxNameLength characters that no C or C++
  // implementation reserves (no leading underscore); otherwise why not.
  static std::string whyInvalid(const std::string &name);
};

struct BundleInfo {
  std::string catalogPath;
  std::string hash; // filled by writeBundle
};

// Writes libNAME.a, NAME.h and manifest.json as the directory
// `directory`, all or nothing (OutputFiles.h): built beside it and swapped in whole, so a failure, a
// signal or a full disk leaves the previous bundle as it was. An existing `directory` that is not a
// bundle (nor empty) is refused with OutputPathError.
BundleInfo writeBundle(const std::string &directory, const std::vector<BundledKernel> &kernels,
                       const BundleNaming &naming, const std::string &catalogPath);

std::string bundleHash(const std::vector<BundledKernel> &kernels);

} // namespace sparsekgen
