# The runtime's CPU part: kernel maps and references, point files, element types, the config table, workloads.
# Built in every configuration (the CLI's explain command and the unit tests use it; no CUDA).
add_library(sparsekgen_runtime_cpu STATIC
  ${CMAKE_CURRENT_LIST_DIR}/src/ElementTypes.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/KernelMapCpu.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/PointCloud.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/Reference.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/ConfigTable.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/Workload.cpp
  ${CMAKE_CURRENT_LIST_DIR}/src/Network.cpp
)
target_include_directories(sparsekgen_runtime_cpu PUBLIC ${CMAKE_CURRENT_LIST_DIR}/include)
target_link_libraries(sparsekgen_runtime_cpu PUBLIC fmt::fmt-header-only nlohmann_json::nlohmann_json)
