#include "sparsekgen/LaunchArguments.h"

#include <limits>

#include <fmt/format.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

void LaunchArguments::setPointer(const std::string &name, DevicePointer pointer) { pointers_[name] = pointer; }

void LaunchArguments::setSize(const std::string &name, long long value) {
  if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max())
    throw RuntimeError(fmt::format("{} = {} does not fit the kernels' 32-bit sizes", name, value));
  sizes_[name] = static_cast<int>(value);
}

std::vector<void *> LaunchArguments::bind(const skg_kernel_record &kernel, const skg_kernel_function &function) const {
  std::vector<void *> arguments;
  for (uint32_t i = 0; i < function.parameter_count; ++i) {
    const skg_parameter &parameter = function.parameters[i];
    auto where = [&] {
      return fmt::format("{}: parameter {} ('{}', {} {}) of {}", kernel.name, i, parameter.name,
                         spellingOf(static_cast<skg_parameter_role>(parameter.role)),
                         spellingOf(static_cast<skg_parameter_type>(parameter.type)), function.name);
    };
    const bool scalar = parameter.type == SKG_PARAMETER_I32;
    if (scalar) {
      auto it = sizes_.find(parameter.name);
      if (it == sizes_.end())
        throw RuntimeError(fmt::format("{} {}", where(),
                                       pointers_.count(parameter.name) ? "was given a pointer, not a size"
                                                                       : "is not provided by this runtime's call"));
      arguments.push_back(&it->second);
      continue;
    }
    auto it = pointers_.find(parameter.name);
    if (it == pointers_.end())
      throw RuntimeError(fmt::format("{} {}", where(),
                                     sizes_.count(parameter.name) ? "was given a size, not a pointer"
                                                                  : "is not provided by this runtime's call"));
    if (it->second == 0)
      throw RuntimeError(fmt::format("{} is null", where()));
    arguments.push_back(&it->second);
  }
  return arguments;
}

namespace {
unsigned blocks(long long work, long long perBlock) {
  return static_cast<unsigned>(perBlock > 0 ? (work + perBlock - 1) / perBlock : 0);
}
} // namespace

LaunchShape launchShape(const skg_kernel_function &function, const GridSizes &sizes) {
  LaunchShape shape;
  shape.threads = function.threads_per_block;
  shape.sharedBytes = function.shared_memory_bytes;
  const long long columns = function.columns_per_block;
  switch (function.grid_rule) {
  case SKG_GRID_OUTPUT_TILES:
    shape.grid[0] = blocks(sizes.outputs, function.rows_per_block);
    shape.grid[1] = blocks(sizes.outChannels, columns);
    shape.grid[2] = static_cast<unsigned>(sizes.splits);
    break;
  case SKG_GRID_PAIR_TILES:
    shape.grid[0] = static_cast<unsigned>(sizes.pairTiles);
    shape.grid[1] = blocks(sizes.outChannels, columns);
    break;
  case SKG_GRID_OUTPUT_ELEMENTS:
    shape.grid[0] = blocks(sizes.outputs * blocks(sizes.outChannels, columns), function.threads_per_block);
    break;
  case SKG_GRID_PAIR_INPUT_ELEMENTS:
    shape.grid[0] = blocks(sizes.pairs * sizes.inChannels, function.threads_per_block);
    break;
  case SKG_GRID_PAIR_OUTPUT_ELEMENTS:
    shape.grid[0] = blocks(sizes.pairs * sizes.outChannels, function.threads_per_block);
    break;
  default:
    throw RuntimeError(fmt::format("{}: grid rule {} is not one this runtime knows; rebuild the bundle with the "
                                   "matching sparsekgen",
                                   function.name, function.grid_rule));
  }
  return shape;
}

const skg_kernel_function &mainFunction(const skg_kernel_record &kernel) {
  if (kernel.function_count == 0 || kernel.functions[0].role != SKG_FUNCTION_MAIN)
    throw RuntimeError(fmt::format("{}: the bundle record has no main function", kernel.name));
  return kernel.functions[0];
}

const skg_kernel_function *findFunction(const skg_kernel_record &kernel, skg_function_role role) {
  for (uint32_t i = 0; i < kernel.function_count; ++i)
    if (kernel.functions[i].role == role)
      return &kernel.functions[i];
  return nullptr;
}

} // namespace sparsekgen
