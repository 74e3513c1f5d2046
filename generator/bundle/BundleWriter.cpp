#include "sparsekgen/generator/Bundle.h"

#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "llvm/IR/Constants.h"
#include "llvm/IR/DerivedTypes.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Object/ArchiveWriter.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SHA256.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Target/TargetOptions.h"
#include "llvm/TargetParser/Host.h"

#include "sparsekgen/BundleAbi.h"
#include "sparsekgen/EnumNames.h"
#include "sparsekgen/OutputFiles.h"
#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Interrupt.h"
#include "sparsekgen/Version.h"

namespace sparsekgen {

namespace {

std::string imageBytes(const KernelImage &image) {
  // cuModuleLoadData reads PTX up to its terminating NUL.
  return image.cubin ? image.bytes : image.bytes + '\0';
}

nlohmann::json functionJson(const KernelFunctionAbi &function) {
  nlohmann::json parameters = nlohmann::json::array();
  for (const auto &parameter : function.parameters)
    parameters.push_back(
        {{"name", parameter.name}, {"type", spellingOf(parameter.type)}, {"role", spellingOf(parameter.role)}});
  return {{"name", function.name},
          {"role", spellingOf(function.role)},
          {"grid", spellingOf(function.grid)},
          {"threads_per_block", function.threadsPerBlock},
          {"dynamic_shared_memory_bytes", function.sharedMemoryBytes},
          {"rows_per_block", function.rowsPerBlock},
          {"columns_per_block", function.columnsPerBlock},
          {"parameters", parameters}};
}

nlohmann::json manifestJson(const std::vector<BundledKernel> &kernels, const BundleNaming &naming,
                            const std::string &catalogPath, const std::string &hash) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto &kernel : kernels) {
    nlohmann::json functions = nlohmann::json::array();
    for (const auto &function : kernel.abi.functions)
      functions.push_back(functionJson(function));
    nlohmann::json images = nlohmann::json::array();
    for (const auto &image : kernel.images) {
      nlohmann::json entry = {{"sm", image.sm}, {"format", image.cubin ? "cubin" : "ptx"},
                              {"bytes", image.bytes.size()}};
      if (image.report) {
        entry["registers"] = image.report->registers;
        entry["static_shared_memory_bytes"] = image.report->sharedBytes;
        entry["spill_store_bytes"] = image.report->spillStoreBytes;
        entry["spill_load_bytes"] = image.report->spillLoadBytes;
        entry["stack_frame_bytes"] = image.report->stackFrameBytes;
      }
      if (!image.companionReports.empty()) {
        nlohmann::json companions = nlohmann::json::object();
        for (const auto &[name, report] : image.companionReports)
          companions[name] = {{"registers", report.registers},
                              {"spill_bytes", report.spillStoreBytes + report.spillLoadBytes}};
        entry["companions"] = companions;
        entry["companion_spill_bytes"] = image.companionSpillBytes();
      }
      images.push_back(entry);
    }
    list.push_back({{"name", kernel.name},
                    {"spec", toJson(kernel.spec)},
                    {"launch", {{"abi", kernel.abi.name}, {"functions", functions}}},
                    {"images", images}});
  }
  return {{"format", "sparsekgen-bundle"},
          {"abi_version", SPARSEKGEN_BUNDLE_ABI_VERSION},
          {"sparsekgen_version", SPARSEKGEN_VERSION},
          {"name", naming.name},
          {"library", naming.libraryFile()},
          {"header", naming.headerFile()},
          {"catalog", catalogPath},
          {"bundle_hash", hash},
          {"kernels", list}};
}

class ObjectEmitter {
public:
  explicit ObjectEmitter(const std::string &symbol) : symbol(symbol), module(symbol, context) {}

  std::string emit(const std::vector<BundledKernel> &kernels, const std::string &manifest, const std::string &hash) {
    auto *i32 = llvm::Type::getInt32Ty(context);
    auto *i64 = llvm::Type::getInt64Ty(context);
    auto *ptr = llvm::PointerType::getUnqual(context);
    auto *imageType = llvm::StructType::create(context, {i32, i32, ptr, i64}, "skg_kernel_image");
    auto *parameterType = llvm::StructType::create(context, {ptr, i32, i32}, "skg_parameter");
    auto *functionType =
        llvm::StructType::create(context, {ptr, i32, i32, i32, i32, i32, i32, i32, ptr}, "skg_kernel_function");
    auto *recordType = llvm::StructType::create(
        context,
        {ptr, ptr, ptr, i32, i32, i32, i32, i32, i32, i32, i32, llvm::ArrayType::get(i32, SKG_MAX_EPILOGUE_OPS), i32, ptr,
         i32, ptr},
        "skg_kernel_record");
    auto *bundleType = llvm::StructType::create(context, {i32, i32, ptr, ptr, ptr}, "skg_bundle");
    auto u32 = [&](uint64_t value) { return llvm::ConstantInt::get(i32, value); };

    std::vector<llvm::Constant *> records;
    for (const auto &kernel : kernels) {
      std::vector<llvm::Constant *> images;
      for (const auto &image : kernel.images) {
        std::string bytes = imageBytes(image);
        images.push_back(llvm::ConstantStruct::get(
            imageType, {u32(image.sm), u32(image.cubin ? SKG_IMAGE_CUBIN : SKG_IMAGE_PTX), data(bytes, "image", 16),
                        llvm::ConstantInt::get(i64, bytes.size())}));
      }
      auto *imageArray = llvm::ConstantArray::get(llvm::ArrayType::get(imageType, images.size()), images);
      std::vector<llvm::Constant *> ops(SKG_MAX_EPILOGUE_OPS, u32(0));
      for (size_t i = 0; i < kernel.spec.epilogue.size(); ++i)
        ops[i] = u32(static_cast<uint32_t>(kernel.spec.epilogue[i]));
      std::vector<llvm::Constant *> functions;
      for (const auto &function : kernel.abi.functions) {
        std::vector<llvm::Constant *> parameters;
        for (const auto &parameter : function.parameters)
          parameters.push_back(llvm::ConstantStruct::get(
              parameterType, {string(parameter.name), u32(parameter.type), u32(parameter.role)}));
        auto *parameterArray =
            llvm::ConstantArray::get(llvm::ArrayType::get(parameterType, parameters.size()), parameters);
        functions.push_back(llvm::ConstantStruct::get(
            functionType, {string(function.name), u32(function.role), u32(function.grid),
                           u32(function.threadsPerBlock), u32(function.sharedMemoryBytes), u32(function.rowsPerBlock),
                           u32(function.columnsPerBlock), u32(parameters.size()),
                           global(parameterArray, "parameters", 8)}));
      }
      auto *functionArray = llvm::ConstantArray::get(llvm::ArrayType::get(functionType, functions.size()), functions);
      records.push_back(llvm::ConstantStruct::get(
          recordType,
          {string(kernel.name), string(toJson(kernel.spec).dump()), string(kernel.abi.name),
           u32(static_cast<uint32_t>(kernel.spec.dataflow)), u32(static_cast<uint32_t>(kernel.spec.operation)),
           u32(static_cast<uint32_t>(kernel.spec.dtypes.input)), u32(static_cast<uint32_t>(kernel.spec.dtypes.output)),
           u32(static_cast<uint32_t>(kernel.spec.math)), u32(kernel.spec.channelAlignment),
           u32(kernel.spec.indexBits),
           u32(kernel.spec.epilogue.size()),
           llvm::ConstantArray::get(llvm::ArrayType::get(i32, SKG_MAX_EPILOGUE_OPS), ops), u32(functions.size()),
           global(functionArray, "functions", 8), u32(images.size()), global(imageArray, "images", 8)}));
    }
    auto *recordArray = llvm::ConstantArray::get(llvm::ArrayType::get(recordType, records.size()), records);
    auto *bundle = llvm::ConstantStruct::get(bundleType, {u32(SPARSEKGEN_BUNDLE_ABI_VERSION), u32(records.size()),
                                                          global(recordArray, "records", 8), string(manifest),
                                                          string(hash)});
    // The one external symbol: everything else is private, so bundles of other names link side by side.
    new llvm::GlobalVariable(module, bundleType, /*isConstant=*/true, llvm::GlobalValue::ExternalLinkage, bundle,
                             symbol);
    return compile();
  }

private:
  llvm::Constant *global(llvm::Constant *value, const char *name, unsigned alignment) {
    auto *variable = new llvm::GlobalVariable(module, value->getType(), /*isConstant=*/true,
                                              llvm::GlobalValue::PrivateLinkage, value, name);
    variable->setAlignment(llvm::Align(alignment));
    return variable;
  }
  llvm::Constant *data(const std::string &bytes, const char *name, unsigned alignment) {
    return global(llvm::ConstantDataArray::getRaw(bytes, bytes.size(), llvm::Type::getInt8Ty(context)), name,
                  alignment);
  }
  llvm::Constant *string(const std::string &text) {
    return global(llvm::ConstantDataArray::getString(context, text, /*AddNull=*/true), "str", 1);
  }

  std::string compile() {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
    std::string error;
    const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
    if (!target)
      throw GeneratorError("no LLVM target for the host: " + error);
    std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(
        triple, "generic", "", llvm::TargetOptions(), llvm::Reloc::PIC_));
    module.setTargetTriple(triple);
    module.setDataLayout(machine->createDataLayout());
    llvm::SmallVector<char, 0> object;
    llvm::raw_svector_ostream os(object);
    llvm::legacy::PassManager passes;
    if (machine->addPassesToEmitFile(passes, os, nullptr, llvm::CodeGenFileType::ObjectFile))
      throw GeneratorError("the host target cannot emit object files");
    passes.run(module);
    return std::string(object.begin(), object.end());
  }

  std::string symbol;
  llvm::LLVMContext context;
  llvm::Module module;
};

std::string headerText(const std::vector<BundledKernel> &kernels, const BundleNaming &naming,
                       const std::string &catalogPath) {
  const std::string prefix = naming.macroPrefix();
  std::string text = fmt::format(
      "/* Kernel bundle generated by `sparsekgen build {0} --name {1}`. Link {2} and pass\n"
      " * {1} to the runtime (sparsekgen::Context). Regenerate rather than edit. */\n"
      "#ifndef {3}_H\n#define {3}_H\n\n#include \"sparsekgen/BundleAbi.h\"\n\n"
      "#ifdef __cplusplus\nextern \"C\" {{\n#endif\n\nextern const skg_bundle {1};\n\n"
      "#ifdef __cplusplus\n}}\n#endif\n\n#define {3}_KERNEL_COUNT {4}\n\n",
      catalogPath, naming.name, naming.libraryFile(), prefix, kernels.size());
  text += "/* Kernels in this bundle: */\n";
  for (const auto &kernel : kernels)
    text += fmt::format("#define {}_HAS_{} 1\n", prefix, kernel.name);
  text += "\n#endif\n";
  return text;
}

} // namespace

std::string BundleNaming::macroPrefix() const {
  std::string prefix = name;
  for (char &c : prefix)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return prefix;
}

std::string BundleNaming::whyInvalid(const std::string &name) {
  auto refuse = [&](const std::string &why) { return fmt::format("bundle name '{}' {}", name, why); };
  if (name.empty())
    return "the bundle name is empty";
  if (name.size() > kMaxNameLength)
    return refuse(fmt::format("has {} characters; at most {} are allowed", name.size(), kMaxNameLength));
  if (name.front() == '_')
    return refuse("starts with an underscore (names reserved to C and C++ implementations)");
  if (name.rfind("skg_", 0) == 0)
    return refuse("starts with skg_, the prefix of the bundle ABI's own types and kernels");
  if (std::isdigit(static_cast<unsigned char>(name.front())))
    return refuse("starts with a digit; it must be a C identifier");
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return refuse(fmt::format("holds '{}'; only letters, digits and underscores make a C identifier", c));
  return {};
}

int KernelImage::companionSpillBytes() const {
  int bytes = 0;
  for (const auto &[name, report] : companionReports)
    bytes += report.spillStoreBytes + report.spillLoadBytes;
  return bytes;
}

std::string bundleHash(const std::vector<BundledKernel> &kernels) {
  llvm::SHA256 sha;
  for (const auto &kernel : kernels) {
    sha.update(kernel.name);
    for (const auto &image : kernel.images)
      sha.update(image.bytes);
  }
  auto digest = sha.final();
  std::string hex;
  for (uint8_t byte : digest)
    hex += fmt::format("{:02x}", byte);
  return hex;
}

BundleInfo writeBundle(const std::string &directory, const std::vector<BundledKernel> &kernels,
                       const BundleNaming &naming, const std::string &catalogPath) {
  BundleInfo info{catalogPath, bundleHash(kernels)};
  std::string manifest = manifestJson(kernels, naming, catalogPath, info.hash).dump(2) + "\n";
  std::string object = ObjectEmitter(naming.name).emit(kernels, manifest, info.hash);

  // All or nothing: the three files are written into a staging directory beside `directory` and
  // swapped in together, so an application never links a new archive against an old manifest.
  DirectoryReplacement replacement(directory, "manifest.json");
  const std::string &staging = replacement.staging();
  std::vector<llvm::NewArchiveMember> members;
  const std::string objectName = naming.name + ".o";
  members.emplace_back(llvm::MemoryBufferRef(object, objectName));
  if (auto error = llvm::writeArchive(staging + "/" + naming.libraryFile(), members,
                                      llvm::SymtabWritingMode::NormalSymtab, llvm::object::Archive::K_GNU,
                                      /*Deterministic=*/true, /*Thin=*/false))
    throw OutputWriteError(fmt::format("cannot write {}/{}: {}", directory, naming.libraryFile(),
                                       llvm::toString(std::move(error))));
  writeFileAtomically(staging + "/" + naming.headerFile(), headerText(kernels, naming, catalogPath));
  writeFileAtomically(staging + "/manifest.json", manifest);
  throwIfInterrupted(); // a signal during the writes: the staging directory goes, the old bundle stays
  replacement.commit();
  return info;
}

} // namespace sparsekgen
