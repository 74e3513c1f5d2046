// Errors the generator reports to a person: each says where (a file, a JSON pointer, a kernel) and
// what was expected, so a spec author can fix the input without reading generator code.
#pragma once

#include <stdexcept>
#include <string>

namespace sparsekgen {

// Malformed JSON, a wrong type, a missing or unknown field, an illegal tile: input the user can fix.
class SpecError : public std::runtime_error {
public:
  SpecError(std::string where, std::string message)
      : std::runtime_error(where.empty() ? message : where + ": " + message), where_(std::move(where)),
        message_(std::move(message)) {}
  const std::string &where() const { return where_; }
  const std::string &message() const { return message_; }

private:
  std::string where_;
  std::string message_;
};

// The generator could not produce or lower a kernel for a valid spec: a defect or a missing tool.
class GeneratorError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

} // namespace sparsekgen
