// Checked reads from the JSON documents the runtime loads (config tables, workloads): every error
// names the document and the JSON pointer of what is missing or mistyped.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sparsekgen/Errors.h"
#include "sparsekgen/JsonLimits.h"

namespace sparsekgen {

// Parses `input` (text or a stream) as `document` ("network net.json"); malformed JSON (with its
// byte offset), nesting too deep or a key given twice in one object throws RuntimeError saying so.
template <typename Input> nlohmann::json parseJsonDocument(Input &&input, const std::string &document) {
  auto limits = jsonDocumentLimits(
      [&](const std::string &problem) { throw RuntimeError(fmt::format("{}: {}", document, problem)); });
  try {
    return nlohmann::json::parse(std::forward<Input>(input), limits);
  } catch (const nlohmann::json::parse_error &error) {
    throw RuntimeError(fmt::format("{}: malformed JSON at byte {}: {}", document, error.byte, error.what()));
  } catch (const nlohmann::json::out_of_range &error) { // a number past double's range, e.g. 1e400
    throw RuntimeError(fmt::format("{}: a number is out of range: {}", document, jsonErrorDetail(error)));
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

  // The field as a T of exactly that JSON type: a number for an integer only when it is an integer
  // within T's range (2.5, true and 2^32 + 32 are refused for an int, not read as 2, 1 and 32), a
  // boolean only from true or false, a string only from a string; a vector of them element-wise.
  template <typename T> T get(const nlohmann::json &object, const std::string &pointer, const char *name) const {
    const nlohmann::json &value = field(object, pointer, name);
    const std::string at = pointer + "/" + name;
    requireExactly<T>(value, at);
    try {
      return value.get<T>();
    } catch (const nlohmann::json::exception &) {
      fail(at, fmt::format("unexpected value {}", brief(value)));
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
  template <typename T> struct IsVector : std::false_type {};
  template <typename E> struct IsVector<std::vector<E>> : std::true_type {};

  template <typename T> void requireExactly(const nlohmann::json &value, const std::string &at) const {
    if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean())
        fail(at, fmt::format("expected true or false, not {}", brief(value)));
    } else if constexpr (std::is_integral_v<T>) {
      if (!value.is_number_integer())
        fail(at, fmt::format("expected an integer, not {}", brief(value)));
      const bool fits = value.is_number_unsigned()
                            ? value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max())
                            : std::in_range<T>(value.get<int64_t>());
      if (!fits)
        fail(at, fmt::format("{} is out of range [{}, {}]", brief(value), std::numeric_limits<T>::min(),
                             std::numeric_limits<T>::max()));
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number())
        fail(at, fmt::format("expected a number, not {}", brief(value)));
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!value.is_string())
        fail(at, fmt::format("expected a string, not {}", brief(value)));
    } else if constexpr (IsVector<T>::value) {
      if (!value.is_array())
        fail(at, fmt::format("expected an array, not {}", brief(value)));
      for (size_t i = 0; i < value.size(); ++i)
        requireExactly<typename T::value_type>(value[i], fmt::format("{}/{}", at, i));
    }
  }

  std::string document_;
};

} // namespace sparsekgen
