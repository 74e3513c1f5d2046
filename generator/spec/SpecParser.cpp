#include "sparsekgen/generator/SpecParser.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/JsonLimits.h"
#include "sparsekgen/generator/Errors.h"
#include "sparsekgen/generator/Legality.h"
#include "sparsekgen/generator/TargetInfo.h"

namespace sparsekgen {

using nlohmann::json;

namespace {

std::string escapePointerToken(std::string_view token) {
  std::string escaped;
  for (char c : token) {
    if (c == '~')
      escaped += "~0";
    else if (c == '/')
      escaped += "~1";
    else
      escaped += c;
  }
  return escaped;
}

std::string child(const std::string &pointer, std::string_view key) {
  return pointer + "/" + escapePointerToken(key);
}
std::string child(const std::string &pointer, size_t index) { return fmt::format("{}/{}", pointer, index); }

// How a value is described in "expected X, got Y" messages.
std::string describe(const json &value) {
  switch (value.type()) {
  case json::value_t::null:
    return "null";
  case json::value_t::boolean:
    return fmt::format("boolean {}", value.get<bool>());
  case json::value_t::string:
    return fmt::format("string {}", value.dump());
  case json::value_t::number_integer:
  case json::value_t::number_unsigned:
    return fmt::format("integer {}", value.dump());
  case json::value_t::number_float:
    return fmt::format("number {}", value.dump());
  case json::value_t::array:
    return fmt::format("an array of {} elements", value.size());
  case json::value_t::object:
    return "an object";
  default:
    return "an unsupported value";
  }
}

std::string pointerOrRoot(const std::string &pointer) { return pointer.empty() ? "/" : pointer; }

[[noreturn]] void fail(const std::string &pointer, const std::string &message) {
  throw SpecError(pointerOrRoot(pointer), message);
}

// Checks that `value` is an object whose keys are all in `allowed` and that holds every `required`.
void expectObject(const json &value, const std::string &pointer, const std::vector<std::string_view> &allowed,
                  const std::vector<std::string_view> &required) {
  if (!value.is_object())
    fail(pointer, fmt::format("expected an object, got {}", describe(value)));
  for (const auto &[key, unused] : value.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail(child(pointer, key), fmt::format("unknown field '{}'; expected one of: {}", key, fmt::join(allowed, ", ")));
  }
  for (std::string_view key : required) {
    if (!value.contains(key))
      fail(pointer, fmt::format("missing required field '{}'", key));
  }
}

const json &expectArray(const json &value, const std::string &pointer, bool allowEmpty = false) {
  if (!value.is_array())
    fail(pointer, fmt::format("expected an array, got {}", describe(value)));
  if (!allowEmpty && value.empty())
    fail(pointer, "expected a non-empty array");
  return value;
}

int readPositiveInt(const json &value, const std::string &pointer) {
  if (!value.is_number_integer())
    fail(pointer, fmt::format("expected a positive integer, got {}", describe(value)));
  auto number = value.get<int64_t>();
  if (number <= 0 || number > 1 << 20)
    fail(pointer, fmt::format("expected a positive integer of at most {}, got {}", 1 << 20, number));
  return static_cast<int>(number);
}

template <typename Enum>
Enum readEnum(const json &value, const std::string &pointer, const std::vector<std::string_view> &names) {
  if (!value.is_string())
    fail(pointer, fmt::format("expected one of {}, got {}", fmt::join(names, ", "), describe(value)));
  const auto &text = value.get_ref<const std::string &>();
  auto it = std::find(names.begin(), names.end(), text);
  if (it == names.end())
    fail(pointer, fmt::format("unknown value \"{}\"; expected one of: {}", text, fmt::join(names, ", ")));
  return static_cast<Enum>(it - names.begin());
}

TileShape readTriple(const json &value, const std::string &pointer) {
  if (!value.is_array() || value.size() != 3)
    fail(pointer, fmt::format("expected an array of 3 positive integers [M, N, K], got {}", describe(value)));
  return {readPositiveInt(value[0], child(pointer, 0)), readPositiveInt(value[1], child(pointer, 1)),
          readPositiveInt(value[2], child(pointer, 2))};
}

DataTypes readDataTypes(const json &value, const std::string &pointer) {
  expectObject(value, pointer, {"input", "weight", "output", "accumulator"},
               {"input", "weight", "output", "accumulator"});
  DataTypes types;
  types.input = readEnum<DataType>(value["input"], child(pointer, "input"), dataTypeNames());
  types.weight = readEnum<DataType>(value["weight"], child(pointer, "weight"), dataTypeNames());
  types.output = readEnum<DataType>(value["output"], child(pointer, "output"), dataTypeNames());
  types.accumulator = readEnum<DataType>(value["accumulator"], child(pointer, "accumulator"), dataTypeNames());
  return types;
}

std::pair<TileShape, TileShape> readTile(const json &value, const std::string &pointer) {
  expectObject(value, pointer, {"cta", "warp"}, {"cta", "warp"});
  return {readTriple(value["cta"], child(pointer, "cta")), readTriple(value["warp"], child(pointer, "warp"))};
}

std::vector<int> readTargets(const json &value, const std::string &pointer) {
  expectArray(value, pointer);
  std::vector<std::string> supported;
  for (const TargetInfo &t : supportedTargets())
    supported.push_back(smName(t.sm));
  std::vector<int> sms;
  for (size_t i = 0; i < value.size(); ++i) {
    const auto itemPointer = child(pointer, i);
    const json &item = value[i];
    if (!item.is_string())
      fail(itemPointer, fmt::format("expected a target such as \"sm_90\", got {}", describe(item)));
    const auto &text = item.get_ref<const std::string &>();
    auto it = std::find(supported.begin(), supported.end(), text);
    if (it == supported.end())
      fail(itemPointer, fmt::format("unsupported target \"{}\"; supported: {}", text, fmt::join(supported, ", ")));
    int sm = supportedTargets()[it - supported.begin()].sm;
    if (std::find(sms.begin(), sms.end(), sm) != sms.end())
      fail(itemPointer, fmt::format("target \"{}\" is listed twice", text));
    sms.push_back(sm);
  }
  std::sort(sms.begin(), sms.end());
  return sms;
}

std::vector<EpilogueOp> readEpilogue(const json &value, const std::string &pointer) {
  expectObject(value, pointer, {"ops"}, {});
  std::vector<EpilogueOp> ops;
  if (!value.contains("ops"))
    return ops;
  const auto opsPointer = child(pointer, "ops");
  const json &list = expectArray(value["ops"], opsPointer, /*allowEmpty=*/true);
  for (size_t i = 0; i < list.size(); ++i) {
    auto op = readEnum<EpilogueOp>(list[i], child(opsPointer, i), epilogueOpNames());
    if (std::find(ops.begin(), ops.end(), op) != ops.end())
      fail(child(opsPointer, i), fmt::format("epilogue op \"{}\" is listed twice", toString(op)));
    ops.push_back(op);
  }
  return ops;
}

int readChannelAlignment(const json &value, const std::string &pointer) {
  int alignment = readPositiveInt(value, pointer);
  if (alignment != 1 && alignment != 2 && alignment != 4 && alignment != 8)
    fail(pointer, fmt::format("expected a channel alignment of 1, 2, 4 or 8 elements, got {}", alignment));
  return alignment;
}

int readIndexBits(const json &value, const std::string &pointer) {
  int bits = readPositiveInt(value, pointer);
  if (bits != 32 && bits != 64)
    fail(pointer, fmt::format("expected index bits of 32 or 64, got {}", bits));
  return bits;
}

bool readBool(const json &value, const std::string &pointer) {
  if (!value.is_boolean())
    fail(pointer, fmt::format("expected true or false, got {}", describe(value)));
  return value.get<bool>();
}

[[noreturn]] void failLegality(const std::string &pointer, const KernelSpec &spec,
                               const std::vector<LegalityViolation> &violations) {
  const LegalityViolation &first = violations.front();
  std::string message = fmt::format("illegal kernel {}: [{}] {}", kernelName(spec), first.rule, first.message);
  for (size_t i = 1; i < violations.size(); ++i)
    message += fmt::format("; [{}] {}", violations[i].rule, violations[i].message);
  fail(pointer + first.field, message);
}

// "$schema" lets an editor validate a single spec file; it means nothing to the kernel.
const std::vector<std::string_view> kSpecFields = {"dataflow", "operation",         "dtypes", "tile",
                                                   "stages",   "targets",           "epilogue", "channel_alignment",
                                                   "math",     "index_bits",        "pair_weights",
                                                   "$schema"};
const std::vector<std::string_view> kRequiredSpecFields = {"dataflow", "operation", "dtypes", "tile", "stages",
                                                           "targets"};

KernelSpec parseSpecFields(const json &value, const std::string &pointer) {
  expectObject(value, pointer, kSpecFields, kRequiredSpecFields);
  KernelSpec spec;
  spec.dataflow = readEnum<Dataflow>(value["dataflow"], child(pointer, "dataflow"), dataflowNames());
  spec.operation = readEnum<ConvOperation>(value["operation"], child(pointer, "operation"), operationNames());
  spec.dtypes = readDataTypes(value["dtypes"], child(pointer, "dtypes"));
  std::tie(spec.cta, spec.warp) = readTile(value["tile"], child(pointer, "tile"));
  spec.stages = readPositiveInt(value["stages"], child(pointer, "stages"));
  spec.targetSms = readTargets(value["targets"], child(pointer, "targets"));
  if (value.contains("epilogue"))
    spec.epilogue = readEpilogue(value["epilogue"], child(pointer, "epilogue"));
  if (value.contains("channel_alignment"))
    spec.channelAlignment = readChannelAlignment(value["channel_alignment"], child(pointer, "channel_alignment"));
  if (value.contains("math"))
    spec.math = readEnum<MathMode>(value["math"], child(pointer, "math"), mathModeNames());
  if (value.contains("index_bits"))
    spec.indexBits = readIndexBits(value["index_bits"], child(pointer, "index_bits"));
  if (value.contains("pair_weights"))
    spec.pairWeights = readBool(value["pair_weights"], child(pointer, "pair_weights"));
  return spec;
}

// A cross product: every combination of dtypes x tiles x stages x epilogues, sharing the rest.
void expandProduct(const json &value, const std::string &pointer, Catalog &catalog, std::set<std::string> &names,
                   size_t &members) {
  expectObject(value, pointer,
               {"dataflow", "operation", "dtypes", "tiles", "stages", "targets", "epilogues", "channel_alignments",
                "math", "index_bits", "pair_weights"},
               {"dataflow", "operation", "dtypes", "tiles", "stages", "targets"});
  KernelSpec base;
  base.dataflow = readEnum<Dataflow>(value["dataflow"], child(pointer, "dataflow"), dataflowNames());
  base.operation = readEnum<ConvOperation>(value["operation"], child(pointer, "operation"), operationNames());
  base.targetSms = readTargets(value["targets"], child(pointer, "targets"));
  if (value.contains("math"))
    base.math = readEnum<MathMode>(value["math"], child(pointer, "math"), mathModeNames());
  if (value.contains("index_bits"))
    base.indexBits = readIndexBits(value["index_bits"], child(pointer, "index_bits"));
  if (value.contains("pair_weights"))
    base.pairWeights = readBool(value["pair_weights"], child(pointer, "pair_weights"));

  std::vector<DataTypes> dtypes;
  const auto dtypesPointer = child(pointer, "dtypes");
  for (size_t i = 0; i < expectArray(value["dtypes"], dtypesPointer).size(); ++i)
    dtypes.push_back(readDataTypes(value["dtypes"][i], child(dtypesPointer, i)));

  std::vector<std::pair<TileShape, TileShape>> tiles;
  const auto tilesPointer = child(pointer, "tiles");
  for (size_t i = 0; i < expectArray(value["tiles"], tilesPointer).size(); ++i)
    tiles.push_back(readTile(value["tiles"][i], child(tilesPointer, i)));

  std::vector<int> stages;
  const auto stagesPointer = child(pointer, "stages");
  for (size_t i = 0; i < expectArray(value["stages"], stagesPointer).size(); ++i)
    stages.push_back(readPositiveInt(value["stages"][i], child(stagesPointer, i)));

  std::vector<std::vector<EpilogueOp>> epilogues;
  if (value.contains("epilogues")) {
    const auto epiloguesPointer = child(pointer, "epilogues");
    for (size_t i = 0; i < expectArray(value["epilogues"], epiloguesPointer).size(); ++i)
      epilogues.push_back(readEpilogue(value["epilogues"][i], child(epiloguesPointer, i)));
  } else {
    epilogues.emplace_back();
  }

  std::vector<int> alignments;
  if (value.contains("channel_alignments")) {
    const auto alignmentsPointer = child(pointer, "channel_alignments");
    for (size_t i = 0; i < expectArray(value["channel_alignments"], alignmentsPointer).size(); ++i)
      alignments.push_back(readChannelAlignment(value["channel_alignments"][i], child(alignmentsPointer, i)));
  } else {
    alignments.push_back(8);
  }

  // Counted before anything is expanded, saturating (five lists of 10^4 overflow 64 bits).
  size_t combinations = 1;
  for (size_t count : {dtypes.size(), tiles.size(), stages.size(), epilogues.size(), alignments.size()})
    combinations = count != 0 && combinations > kMaxCatalogMembers / count ? kMaxCatalogMembers + 1
                                                                           : combinations * count;
  if (members + combinations > kMaxCatalogMembers)
    fail(pointer, fmt::format("this cross product has {}{} combinations ({} dtypes x {} tiles x {} stages x {} "
                              "epilogues x {} channel alignments){}; a catalog may name at most {} kernels",
                              combinations > kMaxCatalogMembers ? "more than " : "",
                              std::min(combinations, kMaxCatalogMembers), dtypes.size(), tiles.size(),
                              stages.size(), epilogues.size(), alignments.size(),
                              members == 0 ? "" : fmt::format(", on top of the {} named before it", members),
                              kMaxCatalogMembers));
  members += combinations;

  size_t produced = 0;
  for (const auto &types : dtypes)
    for (const auto &[cta, warp] : tiles)
      for (int stageCount : stages)
        for (const auto &epilogue : epilogues)
          for (int alignment : alignments) {
          KernelSpec spec = base;
          spec.dtypes = types;
          spec.cta = cta;
          spec.warp = warp;
          spec.stages = stageCount;
          spec.epilogue = epilogue;
          spec.channelAlignment = alignment;
          std::string name = kernelName(spec);
          if (auto violations = checkLegality(spec); !violations.empty()) {
            catalog.dropped.push_back({pointer, name, violations.front().message});
            continue;
          }
          ++produced;
          if (names.insert(name).second)
            catalog.kernels.push_back(std::move(spec));
        }
  if (produced == 0)
    fail(pointer, fmt::format("this cross product yields no legal kernel ({} combinations dropped; first: {})",
                              catalog.dropped.size(),
                              catalog.dropped.empty() ? std::string("none") : catalog.dropped.back().reason));
}

} // namespace

json parseJsonText(std::string_view text, const std::string &sourceName) {
  auto limits = jsonDocumentLimits([&](const std::string &problem) { throw SpecError(sourceName, problem); });
  try {
    return json::parse(text.begin(), text.end(), limits);
  } catch (const json::parse_error &error) {
    // nlohmann reports a byte offset; people look for a line and a column.
    size_t line = 1, column = 1;
    size_t end = std::min<size_t>(error.byte == 0 ? 0 : error.byte - 1, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string detail = error.what();
    // Drop nlohmann's "[json.exception.parse_error.101] parse error at line L, column C: " prefix.
    if (auto colon = detail.find(": "); colon != std::string::npos)
      detail = detail.substr(colon + 2);
    throw SpecError(fmt::format("{}:{}:{}", sourceName, line, column), "malformed JSON: " + detail);
  } catch (const json::out_of_range &error) { // a number past double's range, e.g. 1e400
    throw SpecError(sourceName, fmt::format("a number is out of range: {}", jsonErrorDetail(error)));
  }
}

KernelSpec parseKernelSpec(const json &value, const std::string &pointer) {
  KernelSpec spec = parseSpecFields(value, pointer);
  if (auto violations = checkLegality(spec); !violations.empty())
    failLegality(pointer, spec, violations);
  return spec;
}

Catalog parseCatalog(const json &document) {
  Catalog catalog;
  std::set<std::string> names;
  std::map<std::string, std::string> explicitPointers;
  size_t members = 0;
  auto addExplicit = [&](const json &value, const std::string &pointer) {
    if (++members > kMaxCatalogMembers)
      fail(pointer, fmt::format("a catalog may name at most {} kernels", kMaxCatalogMembers));
    KernelSpec spec = parseKernelSpec(value, pointer);
    std::string name = kernelName(spec);
    if (auto it = explicitPointers.find(name); it != explicitPointers.end())
      fail(pointer, fmt::format("kernel {} is already listed at {}", name, it->second));
    explicitPointers.emplace(name, pointer);
    names.insert(name);
    catalog.kernels.push_back(std::move(spec));
  };

  if (document.is_array()) {
    for (size_t i = 0; i < document.size(); ++i)
      addExplicit(document[i], child(std::string(), i));
  } else if (document.is_object() && document.contains("dataflow")) {
    addExplicit(document, "");
  } else {
    expectObject(document, "", {"$schema", "name", "description", "kernels", "products"}, {});
    if (!document.contains("kernels") && !document.contains("products"))
      fail("", "a catalog needs \"kernels\" (a list of specs) or \"products\" (cross products of specs)");
    if (document.contains("kernels")) {
      const json &kernels = expectArray(document["kernels"], "/kernels");
      for (size_t i = 0; i < kernels.size(); ++i)
        addExplicit(kernels[i], child(std::string("/kernels"), i));
    }
    if (document.contains("products")) {
      const json &products = expectArray(document["products"], "/products");
      for (size_t i = 0; i < products.size(); ++i)
        expandProduct(products[i], child(std::string("/products"), i), catalog, names, members);
    }
  }
  if (catalog.kernels.empty())
    fail("", "the catalog holds no kernel");
  return catalog;
}

Catalog loadCatalogFile(const std::string &path) {
  std::ifstream file(path, std::ios::binary);
  if (!file)
    throw SpecError(path, "cannot open the catalog file");
  std::stringstream buffer;
  buffer << file.rdbuf();
  try {
    return parseCatalog(parseJsonText(buffer.str(), path));
  } catch (const SpecError &error) {
    if (error.where().rfind(path, 0) == 0)
      throw;
    throw SpecError(path + ":" + error.where(), error.message());
  }
}

} // namespace sparsekgen
