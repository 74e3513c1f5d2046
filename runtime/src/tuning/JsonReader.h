// Checked reads from the JSON documents the runtime loads (config tables, workloads): every error
// names the document and the JSON pointer of what is missing or mistyped.
#pragma once

#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/Errors.h"
#include "sparsekgen/JsonLimits.h"

namespace sparsekgen {

// Parses `input` (text or a stream) as `document` ("network net.json"); malformed or too deeply
// nested JSON throws RuntimeError saying so, with the byte offset for malformed JSON.
template <typename Input> nlohmann::json parseJsonDocument(Input &&input, const std::string &document) {
  auto limitDepth = jsonDepthLimit(
      [&] { throw RuntimeError(fmt::format("{}: nested deeper than {} levels", document, kMaxJsonDepth)); });
  try {
    return nlohmann::json::parse(std::forward<Input>(input), limitDepth);
  } catch (const nlohmann::json::parse_error &error) {
    throw RuntimeError(fmt::format("{}: malformed JSON at byte {}: {}", document, error.byte, error.what()));
  }
}

class JsonReader {
public:
  // `document` opens every message, e.g. "config table tables/h200.json".
  explicit JsonReader(std::string document) : document_(std::move(document)) {}

  [[noreturn]] void fail(const std::string &pointer, const std::string &what) const {
    throw RuntimeError(fmt::format("{}: {}: {}", document_, pointer.empty() ? "/" : pointer, what));
  }

  const nlohmann::json &field(const nlohmann::json &object, const std::string &pointer, const char *name) const {
    if (!object.is_object())
      fail(pointer, "expected an object");
    if (!object.contains(name))
      fail(pointer, fmt::format("missing field '{}'", name));
    return object.at(name);
  }

  template <typename T> T get(const nlohmann::json &object, const std::string &pointer, const char *name) const {
    const nlohmann::json &value = field(object, pointer, name);
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception &) {
      fail(pointer + "/" + name, fmt::format("unexpected value {}", brief(value)));
    }
  }

  // The field when present (and then checked like any other), else `fallback`.
  template <typename T>
  T get(const nlohmann::json &object, const std::string &pointer, const char *name, T fallback) const {
    return object.is_object() && object.contains(name) ? get<T>(object, pointer, name) : std::move(fallback);
  }

  // A value as a message shows it: scalars up to 60 characters, containers by kind and size (an
  // offending value may be huge or nested deeply; it is never echoed whole).
  static std::string brief(const nlohmann::json &value) {
    const char *plural = value.size() == 1 ? "" : "s";
    if (value.is_object())
      return fmt::format("an object of {} field{}", value.size(), plural);
    if (value.is_array())
      return fmt::format("an array of {} element{}", value.size(), plural);
    std::string text = value.dump();
    return text.size() > 60 ? text.substr(0, 57) + "..." : text;
  }

private:
  std::string document_;
};

} // namespace sparsekgen
