# `cmake --install build --prefix P`: the runtime (static and shared), its headers, the CLI and the
# GPU tools, the schemas, the default bundle and the CMake package (find_package(sparsekgen) with
# the targets sparsekgen::runtime, ::runtime_cpu, ::runtime_shared, ::default_kernels and, where the
# generator was built, the sparsekgen::sparsekgen CLI and sparsekgen_add_bundle). Components:
# runtime (libraries, bundle, schemas), development (headers, CMake package), tools (executables).
include(CMakePackageConfigHelpers)
set(SPARSEKGEN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/sparsekgen)
set(SPARSEKGEN_INSTALL_BUNDLEDIR ${CMAKE_INSTALL_LIBDIR}/sparsekgen/bundle)
set(SPARSEKGEN_INSTALL_SCHEMADIR ${CMAKE_INSTALL_DATADIR}/sparsekgen/schemas)

set_target_properties(sparsekgen_runtime_cpu PROPERTIES EXPORT_NAME runtime_cpu)
install(TARGETS sparsekgen_runtime_cpu EXPORT sparsekgenTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/runtime/include/sparsekgen DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        COMPONENT development FILES_MATCHING PATTERN "*.h" PATTERN "*.inl")
install(FILES ${PROJECT_BINARY_DIR}/runtime/generated/include/sparsekgen/Version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/sparsekgen COMPONENT development)
file(GLOB installed_schemas ${PROJECT_SOURCE_DIR}/schemas/*.schema.json)
install(FILES ${installed_schemas} DESTINATION ${SPARSEKGEN_INSTALL_SCHEMADIR} COMPONENT runtime)

# Installed programs find the libraries they were linked with (MLIR, LLVM) where they are.
set(installed_programs)
if(TARGET sparsekgen)
  list(APPEND installed_programs sparsekgen)
  set_target_properties(sparsekgen PROPERTIES EXPORT_NAME sparsekgen)
  install(TARGETS sparsekgen EXPORT sparsekgenTargets RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
endif()
if(TARGET sparsekgen_runtime)
  set_target_properties(sparsekgen_runtime PROPERTIES EXPORT_NAME runtime)
  set_target_properties(sparsekgen_runtime_shared PROPERTIES EXPORT_NAME runtime_shared)
  install(TARGETS sparsekgen_runtime sparsekgen_runtime_shared EXPORT sparsekgenTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime)
  list(APPEND installed_programs sparsekgen-tune sparsekgen-run-network sparsekgen-bench-network sparsekgen-bench-train)
  install(TARGETS sparsekgen-tune sparsekgen-run-network sparsekgen-bench-network sparsekgen-bench-train
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
  get_target_property(default_bundle sparsekgen_default_kernels SPARSEKGEN_BUNDLE_DIRECTORY)
  install(FILES ${default_bundle}/libsparsekgen_kernels.a ${default_bundle}/sparsekgen_kernels.h
                ${default_bundle}/manifest.json
          DESTINATION ${SPARSEKGEN_INSTALL_BUNDLEDIR} COMPONENT runtime)
  set(SPARSEKGEN_PACKAGE_HAS_RUNTIME ON)
else()
  set(SPARSEKGEN_PACKAGE_HAS_RUNTIME OFF)
endif()
set_target_properties(${installed_programs} PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(EXPORT sparsekgenTargets NAMESPACE sparsekgen:: DESTINATION ${SPARSEKGEN_INSTALL_CMAKEDIR}
        COMPONENT development)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sparsekgenConfig.cmake.in
  ${PROJECT_BINARY_DIR}/package/sparsekgenConfig.cmake INSTALL_DESTINATION ${SPARSEKGEN_INSTALL_CMAKEDIR}
  PATH_VARS SPARSEKGEN_INSTALL_BUNDLEDIR SPARSEKGEN_INSTALL_SCHEMADIR)
# 0.x: a minor version may change the API and the bundle ABI.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/sparsekgenConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/sparsekgenConfig.cmake
              ${PROJECT_BINARY_DIR}/package/sparsekgenConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/SparsekgenBundle.cmake
        DESTINATION ${SPARSEKGEN_INSTALL_CMAKEDIR} COMPONENT development)
