#include "sparsekgen/SchemaValidation.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include "files/SchemaTexts.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

namespace {

const nlohmann::json &schemaDocument(const std::string &file) {
  static const std::map<std::string, nlohmann::json> documents = [] {
    std::map<std::string, nlohmann::json> parsed;
    for (const auto &[name, text] : shippedSchemaTexts())
      parsed.emplace(name, nlohmann::json::parse(text));
    return parsed;
  }();
  auto it = documents.find(file);
  if (it == documents.end())
    throw std::logic_error("no shipped schema " + file);
  return it->second;
}

// `node` of the schema file `file` with every "$ref" replaced by what it names, in this file or
// another ("workload.schema.json#/properties/inputs"); our schemas are not recursive. valijson then
// resolves no reference itself: its URI handling runs std::regex, and with torch imported first
// (the Python package) compiling a schema that way crashed, std::regex evidently binding to
// torch's own copies.
nlohmann::json inlineReferences(const nlohmann::json &node, const std::string &file, int depth = 0) {
  if (depth > 64)
    throw std::logic_error("schema references nest deeper than 64 in " + file);
  if (node.is_array()) {
    nlohmann::json result = nlohmann::json::array();
    for (const auto &element : node)
      result.push_back(inlineReferences(element, file, depth + 1));
    return result;
  }
  if (!node.is_object())
    return node;
  if (auto ref = node.find("$ref"); ref != node.end() && ref->is_string()) {
    const std::string text = ref->get<std::string>();
    const size_t hash = text.find('#');
    const std::string target = hash == 0 ? file : text.substr(0, hash);
    const std::string pointer = hash == std::string::npos ? "" : text.substr(hash + 1);
    nlohmann::json referenced =
        inlineReferences(schemaDocument(target).at(nlohmann::json::json_pointer(pointer)), target, depth + 1);
    if (node.size() == 1)
      return referenced;
    // Keywords beside "$ref" apply too (2020-12): both must hold.
    nlohmann::json siblings = node;
    siblings.erase("$ref");
    return {{"allOf", {std::move(referenced), inlineReferences(siblings, file, depth + 1)}}};
  }
  nlohmann::json result = nlohmann::json::object();
  for (const auto &[key, value] : node.items())
    result[key] = inlineReferences(value, file, depth + 1);
  return result;
}

const valijson::Schema &compiledSchema(const std::string &file) {
  static std::mutex mutex;
  static std::map<std::string, std::pair<nlohmann::json, std::unique_ptr<valijson::Schema>>> compiled;
  std::lock_guard lock(mutex);
  auto &[document, schema] = compiled[file];
  if (!schema) {
    document = inlineReferences(schemaDocument(file), file);
    document.erase("$id"); // no base URI to resolve against: nothing is left to resolve
    document.erase("$schema");
    schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(document);
    parser.populateSchema(adapter, *schema);
  }
  return *schema;
}

// valijson's context ("<root>", "[nodes]", "[3]") as a JSON pointer ("/nodes/3").
std::string pointerOf(const std::vector<std::string> &context) {
  std::string pointer;
  for (const auto &part : context)
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']')
      pointer += "/" + part.substr(1, part.size() - 2);
  return pointer.empty() ? "/" : pointer;
}

std::string readable(std::string description) {
  static constexpr std::string_view kUnknown =
      "Object contains a property that could not be validated using 'properties' or 'additionalProperties' "
      "constraints: ";
  if (description.rfind(kUnknown, 0) == 0) {
    std::string name = description.substr(kUnknown.size());
    if (!name.empty() && name.back() == '.')
      name.pop_back();
    return "unknown field " + name;
  }
  return description;
}

} // namespace

void validateAgainstSchema(const nlohmann::json &value, const std::string &schemaFile, const std::string &document) {
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(value);
  if (validator.validate(compiledSchema(schemaFile), target, &results))
    return;
  // The most specific violation: the deepest one that is not a summary of those below it
  // ("Failed to validate against ...").
  std::optional<valijson::ValidationResults::Error> chosen;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    if (error.description.rfind("Failed to validate against", 0) == 0)
      continue;
    if (!chosen || error.context.size() > chosen->context.size())
      chosen = error;
  }
  if (!chosen)
    throw RuntimeError(fmt::format("{}: does not match {}", document, schemaFile));
  throw RuntimeError(fmt::format("{}: {}: {} (schemas/{})", document, pointerOf(chosen->context),
                                 readable(chosen->description), schemaFile));
}

} // namespace sparsekgen
