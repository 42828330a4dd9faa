# Range invokers: the header check of c-tests/range/, included by
# c-tests/CMakeLists.txt (the range/ test programs register with the other
# areas').
#
#   range_build_inline  lk_range_seed and lk_range_stopped are defined in the
#                       header and call nothing: range/build_inline.c, built
#                       as C and C++ at -O0 and -O2, has no undefined symbol
#                       (range/build_inline.sh, with nm).

find_program(LK_NM nm)
if(NOT LK_NM)
  message(FATAL_ERROR "nm is missing (binutils): range_build_inline needs it")
endif()
add_test(NAME range_build_inline
  COMMAND sh "${CMAKE_CURRENT_SOURCE_DIR}/range/build_inline.sh" "${CMAKE_C_COMPILER}" "${CMAKE_CXX_COMPILER}"
          "${LK_ROOT}/include" "${CMAKE_CURRENT_SOURCE_DIR}/range/build_inline.c"
          "${CMAKE_CURRENT_BINARY_DIR}/range_build_inline" "${LK_NM}")
set_tests_properties(range_build_inline PROPERTIES TIMEOUT 60 LABELS "range;build")
