#include "sparsekgen/LaunchArguments.h"

#include <limits>

#include <fmt/format.h>

#include "sparsekgen/EnumNames.h"
#include "sparsekgen/Errors.h"

namespace sparsekgen {

const LaunchArguments::Value *LaunchArguments::find(const std::string &name) const {
  for (const Value &value : values_)
    if (value.name == name)
      return &value;
  return nullptr;
}

LaunchArguments::Value &LaunchArguments::slot(const std::string &name) {
  if (const Value *existing = find(name))
    return const_cast<Value &>(*existing);
  values_.push_back({name});
  return values_.back();
}

void LaunchArguments::setPointer(const std::string &name, DevicePointer pointer) {
  Value &value = slot(name);
  value.pointer = true;
  value.address = pointer;
}

void LaunchArguments::setSize(const std::string &name, long long size) {
  if (size < std::numeric_limits<int>::min() || size > std::numeric_limits<int>::max())
    throw RuntimeError(fmt::format("{} = {} does not fit the kernels' 32-bit sizes", name, size));
  Value &value = slot(name);
  value.pointer = false;
  value.size = static_cast<int>(size);
}

std::vector<void *> LaunchArguments::bind(const skg_kernel_record &kernel, const skg_kernel_function &function) const {
  std::vector<void *> arguments;
  arguments.reserve(function.parameter_count);
  for (uint32_t i = 0; i < function.parameter_count; ++i) {
    const skg_parameter &parameter = function.parameters[i];
    auto fail = [&](const char *what) {
      throw RuntimeError(fmt::format("{}: parameter {} ('{}', {} {}) of {} {}", kernel.name, i, parameter.name,
                                     spellingOf(static_cast<skg_parameter_role>(parameter.role)),
                                     spellingOf(static_cast<skg_parameter_type>(parameter.type)), function.name,
                                     what));
    };
    const bool scalar = parameter.type == SKG_PARAMETER_I32;
    const Value *value = find(parameter.name);
    if (!value)
      fail("is not provided by this runtime's call");
    if (scalar && value->pointer)
      fail("was given a pointer, not a size");
    if (!scalar && !value->pointer)
      fail("was given a size, not a pointer");
    if (!scalar && value->address == 0)
      fail("is null");
    // cuLaunchKernel reads the values through these pointers and never writes them.
    const void *address = scalar ? static_cast<const void *>(&value->size) : static_cast<const void *>(&value->address);
    arguments.push_back(const_cast<void *>(address));
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
  case SKG_GRID_WEIGHT_TILES:
    shape.grid[0] = blocks(sizes.inChannels, function.rows_per_block);
    shape.grid[1] = blocks(sizes.outChannels, columns);
    shape.grid[2] = static_cast<unsigned>(sizes.pairTiles);
    break;
  case SKG_GRID_WEIGHT_ELEMENTS:
    shape.grid[0] = blocks(sizes.kernelVolume * sizes.inChannels * sizes.outChannels, function.threads_per_block);
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
