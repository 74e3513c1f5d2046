// Network descriptions in sparsekgen._cpu (NetworkBindings.cpp).
#pragma once

#include <nanobind/nanobind.h>

namespace sparsekgen {
void bindNetworks(nanobind::module_ &m);
}
