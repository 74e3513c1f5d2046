// Arrays across the Python boundary, shared by the modules' bindings: the DLPack array types they
// accept, numpy arrays that own their memory, and coordinate rows.
#pragma once

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "sparsekgen/Errors.h"
#include "sparsekgen/KernelMap.h"

namespace sparsekgen::python {

namespace nb = nanobind;

using CoordinateRows = nb::ndarray<const int32_t, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

// A numpy array owning `values` (moved into the capsule that frees them).
template <typename T, size_t Dims>
nb::ndarray<nb::numpy, T> ownedArray(std::vector<T> &&values, std::array<size_t, Dims> shape) {
  auto *owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void *p) noexcept { delete static_cast<std::vector<T> *>(p); });
  return nb::ndarray<nb::numpy, T>(owned->data(), Dims, shape.data(), owner);
}

// Coordinate rows (batch, x, y, z) of an int32 [N, 4] array; another shape throws RuntimeError
// naming `what`.
inline std::vector<Coordinate> coordinatesOf(const CoordinateRows &rows, const char *what) {
  if (rows.shape(1) != 4)
    throw RuntimeError(fmt::format("{}: coordinates must be int32 [N, 4] (batch, x, y, z), not [{}, {}]", what,
                                   rows.shape(0), rows.shape(1)));
  std::vector<Coordinate> coordinates(rows.shape(0));
  const int32_t *data = rows.data();
  for (size_t i = 0; i < coordinates.size(); ++i)
    coordinates[i] = {data[4 * i], data[4 * i + 1], data[4 * i + 2], data[4 * i + 3]};
  return coordinates;
}

} // namespace sparsekgen::python
