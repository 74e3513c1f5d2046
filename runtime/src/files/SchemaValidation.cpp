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
  // A reference names another schema by its file ("workload.schema.json#/...", resolved against
  // the $id "https://sparsekgen.dev/schemas/...").
  auto it = documents.find(file.substr(file.rfind('/') + 1));
  if (it == documents.end())
    throw std::logic_error("no shipped schema " + file);
  return it->second;
}

const valijson::Schema &compiledSchema(const std::string &file) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<valijson::Schema>> compiled;
  std::lock_guard lock(mutex);
  auto &schema = compiled[file];
  if (!schema) {
    schema = std::make_unique<valijson::Schema>();
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(schemaDocument(file));
    parser.populateSchema(
        adapter, *schema,
        [](const std::string &uri) -> const nlohmann::json * { return &schemaDocument(uri); },
        [](const nlohmann::json *) {}); // the documents are static
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
