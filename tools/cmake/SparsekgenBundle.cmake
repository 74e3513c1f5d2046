# Kernel bundles as CMake targets, in this project and in projects using the installed package
# (find_package(sparsekgen) includes this file; docs/building.md shows both uses).
#
#   sparsekgen_add_bundle(<target> CATALOG <catalog.json> [NAME <symbol>] [OUTPUT_DIRECTORY <dir>]
#                         [NO_CUBIN] [JOBS <n>])
#     Generates a bundle from a catalog at build time with `sparsekgen build` and makes <target> a
#     static library to link: its header <symbol>.h is on the include path and
#     `extern const skg_bundle <symbol>;` is what Context takes. <symbol> defaults to <target>;
#     bundles of different symbols link into one binary. The bundle directory defaults to
#     ${CMAKE_CURRENT_BINARY_DIR}/<target>; it is regenerated when the catalog or sparsekgen changes.
#
#   sparsekgen_import_bundle(<target> DIRECTORY <dir> [NAME <symbol>])
#     Makes <target> of a bundle directory built elsewhere (e.g. on a machine with MLIR).
#
# Both set <target>'s SPARSEKGEN_BUNDLE_DIRECTORY property to the bundle directory.

include_guard(GLOBAL)

# The runtime target the bundle header needs (sparsekgen/BundleAbi.h): in this project's tree or
# from the installed package.
function(_sparsekgen_bundle_abi_target out)
  if(TARGET sparsekgen::runtime_cpu)
    set(${out} sparsekgen::runtime_cpu PARENT_SCOPE)
  else()
    message(FATAL_ERROR "sparsekgen bundles need the sparsekgen::runtime_cpu target (find_package(sparsekgen))")
  endif()
endfunction()

function(sparsekgen_import_bundle target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "DIRECTORY;NAME" "")
  if(NOT arg_DIRECTORY)
    message(FATAL_ERROR "sparsekgen_import_bundle(${target}): DIRECTORY is required")
  endif()
  if(NOT arg_NAME)
    set(arg_NAME ${target})
  endif()
  _sparsekgen_bundle_abi_target(abi)
  add_library(${target} STATIC IMPORTED GLOBAL)
  # The include directory must exist when the target is created; its files may come later.
  file(MAKE_DIRECTORY ${arg_DIRECTORY})
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION ${arg_DIRECTORY}/lib${arg_NAME}.a
    INTERFACE_INCLUDE_DIRECTORIES ${arg_DIRECTORY}
    INTERFACE_LINK_LIBRARIES ${abi}
    SPARSEKGEN_BUNDLE_DIRECTORY ${arg_DIRECTORY})
endfunction()

function(sparsekgen_add_bundle target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_CUBIN" "CATALOG;NAME;OUTPUT_DIRECTORY;JOBS" "")
  if(NOT arg_CATALOG)
    message(FATAL_ERROR "sparsekgen_add_bundle(${target}): CATALOG is required")
  endif()
  if(NOT TARGET sparsekgen::sparsekgen)
    message(FATAL_ERROR "sparsekgen_add_bundle(${target}): the sparsekgen CLI is not available "
                        "(this sparsekgen was built without the generator); use sparsekgen_import_bundle")
  endif()
  if(NOT arg_NAME)
    set(arg_NAME ${target})
  endif()
  if(NOT arg_OUTPUT_DIRECTORY)
    set(arg_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/${target})
  endif()
  get_filename_component(catalog ${arg_CATALOG} ABSOLUTE)
  set(options --name ${arg_NAME} --quiet)
  if(arg_NO_CUBIN)
    list(APPEND options --no-cubin)
  endif()
  if(arg_JOBS)
    list(APPEND options --jobs ${arg_JOBS})
  endif()
  set(directory ${arg_OUTPUT_DIRECTORY})
  add_custom_command(
    OUTPUT ${directory}/lib${arg_NAME}.a ${directory}/${arg_NAME}.h ${directory}/manifest.json
    COMMAND sparsekgen::sparsekgen build ${catalog} -o ${directory} ${options}
    DEPENDS sparsekgen::sparsekgen ${catalog}
    COMMENT "Generating kernel bundle ${arg_NAME} from ${arg_CATALOG}"
    VERBATIM)
  add_custom_target(${target}_generate DEPENDS ${directory}/lib${arg_NAME}.a)
  sparsekgen_import_bundle(${target} DIRECTORY ${directory} NAME ${arg_NAME})
  add_dependencies(${target} ${target}_generate)
endfunction()
