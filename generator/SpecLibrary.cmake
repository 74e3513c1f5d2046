# The spec model, parser and legality rules: no MLIR, so the unit tests and the fuzz targets build
# them in every configuration (the sanitizer build uses clang without the generator).
set(generator_dir ${CMAKE_CURRENT_LIST_DIR})
add_library(sparsekgen_spec STATIC
  ${generator_dir}/spec/KernelSpec.cpp
  ${generator_dir}/spec/SpecParser.cpp
  ${generator_dir}/spec/Legality.cpp
  ${generator_dir}/spec/SharedRing.cpp
  ${generator_dir}/spec/TargetInfo.cpp
)
target_include_directories(sparsekgen_spec PUBLIC ${generator_dir}/include)
# The dataflow table and the enumerations' spellings live in the runtime's CPU library, which the
# generator shares.
target_link_libraries(sparsekgen_spec PUBLIC sparsekgen_runtime_cpu nlohmann_json::nlohmann_json fmt::fmt)
