# Packaging: scripts/install into temporary prefixes under the build folder,
# then used the way users use it (c-tests/package/test_*.sh; see lib.sh there).
find_program(LK_BASH bash)
if(NOT LK_BASH)
  message(FATAL_ERROR "bash is needed for the packaging tests")
endif()
# Install what the other tests use: LK_BUILT is <target>/release/liblkparallel.so.
get_filename_component(_lk_release_dir "${LK_BUILT}" DIRECTORY)
get_filename_component(_lk_target_dir "${_lk_release_dir}" DIRECTORY)
foreach(name IN ITEMS layout cmake pkgconfig multiarch version components static subproject readme)
  add_test(NAME package_${name}
           COMMAND "${LK_BASH}" "${LK_ROOT}/c-tests/package/test_${name}.sh")
  set_tests_properties(package_${name} PROPERTIES
    TIMEOUT 600
    ENVIRONMENT "LK_ROOT=${LK_ROOT};LK_WORK=${CMAKE_BINARY_DIR}/package/${name};LK_CMAKE=${CMAKE_COMMAND};CC=${CMAKE_C_COMPILER};CXX=${CMAKE_CXX_COMPILER};LK_MULTIARCH=${CMAKE_LIBRARY_ARCHITECTURE};CARGO_TARGET_DIR=${_lk_target_dir}")
endforeach()
unset(_lk_release_dir)
unset(_lk_target_dir)
