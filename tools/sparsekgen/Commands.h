// The sparsekgen subcommands. Each registers itself on the app and runs from its callback; errors
// propagate as SpecError (bad input, exit 2) or GeneratorError (exit 1) to main.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json_fwd.hpp>

namespace sparsekgen {

void addBuildCommand(CLI::App &app);
void addEmitCommand(CLI::App &app);
void addInspectCommand(CLI::App &app);
void addExplainCommand(CLI::App &app);
void addPlanCommand(CLI::App &app);

// The text of a bundle's manifest.json (`path` is the bundle directory or the file itself) and the
// file's path in `manifestPath`; an unreadable file throws SpecError naming it.
std::string readManifestText(const std::string &path, std::string *manifestPath);
// The same parsed and checked to be a manifest; errors name the file.
nlohmann::json loadManifest(const std::string &path);

// The kernel table of a manifest: name, registers, shared memory, spills (per SM).
void printKernelTable(const nlohmann::json &manifest);

} // namespace sparsekgen
