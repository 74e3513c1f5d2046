# The runtime's CPU part: the dataflow table, argument binding, kernel maps and references, point
# files, element types, the config table, workloads and networks. Built in every configuration (the
# generator shares the dataflow table; the CLI's explain command and the unit tests use the rest;
# no CUDA). Sources are grouped by subsystem under src/ (docs/architecture.md).
set(runtime_src ${CMAKE_CURRENT_LIST_DIR}/src)
add_library(sparsekgen_runtime_cpu STATIC
  ${runtime_src}/conv/DataflowTable.cpp
  ${runtime_src}/conv/EnumNames.cpp
  ${runtime_src}/conv/LaunchArguments.cpp
  ${runtime_src}/conv/ConvArguments.cpp
  ${runtime_src}/conv/ElementTypes.cpp
  ${runtime_src}/files/OutputFiles.cpp
  ${runtime_src}/maps/KernelMapCpu.cpp
  ${runtime_src}/maps/PointCloud.cpp
  ${runtime_src}/check/Reference.cpp
  ${runtime_src}/check/TrainingReference.cpp
  ${runtime_src}/tuning/ConfigTable.cpp
  ${runtime_src}/tuning/BundleManifest.cpp
  ${runtime_src}/tuning/Workload.cpp
  ${runtime_src}/network/Network.cpp
  ${runtime_src}/network/DynamicLossScale.cpp
  ${runtime_src}/network/TrainingParameters.cpp
  ${runtime_src}/network/Safetensors.cpp
  ${runtime_src}/check/NetworkTrainingReference.cpp
)
# Position-independent, so shared objects (the Python modules, an application's own .so) can link it.
set_target_properties(sparsekgen_runtime_cpu PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(sparsekgen_runtime_cpu PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include PRIVATE ${runtime_src})
target_link_libraries(sparsekgen_runtime_cpu PUBLIC fmt::fmt-header-only nlohmann_json::nlohmann_json)
