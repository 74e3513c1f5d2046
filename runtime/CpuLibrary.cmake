# The runtime's CPU part: the dataflow table, argument binding, kernel maps and references, point
# files, element types, the config table, workloads and networks. Built in every configuration (the
# generator shares the dataflow table; the CLI's explain command and the unit tests use the rest;
# no CUDA). Sources are grouped by subsystem under src/ (docs/architecture.md).
set(runtime_src ${CMAKE_CURRENT_LIST_DIR}/src)

# The shipped JSON Schemas, compiled in: the runtime validates its documents against them
# (SchemaValidation.h) with valijson (Debian's libvalijson-dev, header-only).
find_path(SPARSEKGEN_VALIJSON_INCLUDE_DIR valijson/validator.hpp REQUIRED
          DOC "valijson headers (apt-get install libvalijson-dev)")
file(GLOB schema_files CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/../schemas/*.schema.json)
set(SCHEMA_ENTRIES "")
foreach(schema_file IN LISTS schema_files)
  get_filename_component(schema_name ${schema_file} NAME)
  file(READ ${schema_file} schema_text)
  string(APPEND SCHEMA_ENTRIES "      {\"${schema_name}\", R\"schema(${schema_text})schema\"},\n")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${schema_file})
endforeach()
configure_file(${runtime_src}/files/SchemaTexts.cpp.in ${PROJECT_BINARY_DIR}/runtime/generated/SchemaTexts.cpp @ONLY)
configure_file(${CMAKE_CURRENT_LIST_DIR}/include/sparsekgen/Version.h.in
               ${PROJECT_BINARY_DIR}/runtime/generated/include/sparsekgen/Version.h @ONLY)
add_library(sparsekgen_runtime_cpu STATIC
  ${runtime_src}/conv/DataflowTable.cpp
  ${runtime_src}/conv/EnumNames.cpp
  ${runtime_src}/conv/LaunchArguments.cpp
  ${runtime_src}/conv/ConvArguments.cpp
  ${runtime_src}/conv/IndexWidth.cpp
  ${runtime_src}/conv/ElementTypes.cpp
  ${runtime_src}/conv/WeightTensorMapLayout.cpp
  ${runtime_src}/device/ImageChoice.cpp
  ${runtime_src}/files/OutputFiles.cpp
  ${runtime_src}/files/SchemaValidation.cpp
  ${PROJECT_BINARY_DIR}/runtime/generated/SchemaTexts.cpp
  ${runtime_src}/maps/KernelMapCpu.cpp
  ${runtime_src}/maps/PointCloud.cpp
  ${runtime_src}/check/Reference.cpp
  ${runtime_src}/check/TrainingReference.cpp
  ${runtime_src}/tuning/ConfigTable.cpp
  ${runtime_src}/tuning/BundleManifest.cpp
  ${runtime_src}/tuning/Workload.cpp
  ${runtime_src}/network/Network.cpp
  ${runtime_src}/network/ConvLaunchPlan.cpp
  ${runtime_src}/graph/Graph.cpp
  ${runtime_src}/graph/GraphKernelChoice.cpp
  ${runtime_src}/network/DynamicLossScale.cpp
  ${runtime_src}/network/TrainingParameters.cpp
  ${runtime_src}/network/Safetensors.cpp
  ${runtime_src}/check/NetworkTrainingReference.cpp
)
# Position-independent, so shared objects (the Python modules, libsparsekgen_runtime.so, an
# application's own) can link it. Those objects keep the header-only libraries' inline functions
# (nlohmann::json, valijson, fmt) to themselves: the Python modules link with --exclude-libs, the
# shared runtime with a version script, so a process that imported torch first and holds its own
# copies of another version never mixes them with ours.
set_target_properties(sparsekgen_runtime_cpu PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(sparsekgen_runtime_cpu PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_LIST_DIR}/include> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/runtime/generated/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}> PRIVATE ${runtime_src})
target_include_directories(sparsekgen_runtime_cpu SYSTEM PRIVATE ${SPARSEKGEN_VALIJSON_INCLUDE_DIR})
# Host fp16/bf16 conversions come from the CUDA headers (ElementTypes.cpp); no CUDA library is linked.
find_package(CUDAToolkit REQUIRED)
target_include_directories(sparsekgen_runtime_cpu SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
target_link_libraries(sparsekgen_runtime_cpu PUBLIC fmt::fmt-header-only nlohmann_json::nlohmann_json)
add_library(sparsekgen::runtime_cpu ALIAS sparsekgen_runtime_cpu) # the installed package's name
