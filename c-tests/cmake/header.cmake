# Header checks, included by c-tests/CMakeLists.txt.
#
# build_header_c99 / _c11 / _cxx17: compile c-tests/build_header_strict.c
# (which includes lkparallel.h twice and uses all of it) as C99, C11 and
# C++17 with -Wall -Wextra -Wpedantic -Werror. They run as tests (the
# compiler is the test command) so a header that fails them fails those
# tests, not the whole build.
#
# build_header_link: a second translation unit (build_header_link.c compiled
# again with LKT_SECOND_TU) linked into the build_header_link program.

set(LK_STRICT_FLAGS -Wall -Wextra -Wpedantic -Werror)
set(LK_HEADER_SRC "${CMAKE_CURRENT_SOURCE_DIR}/build_header_strict.c")

add_test(NAME build_header_c99
  COMMAND "${CMAKE_C_COMPILER}" -std=c99 ${LK_STRICT_FLAGS} -I "${LK_ROOT}/include"
          -c "${LK_HEADER_SRC}" -o "${CMAKE_CURRENT_BINARY_DIR}/build_header_c99.o")
add_test(NAME build_header_c11
  COMMAND "${CMAKE_C_COMPILER}" -std=c11 ${LK_STRICT_FLAGS} -I "${LK_ROOT}/include"
          -c "${LK_HEADER_SRC}" -o "${CMAKE_CURRENT_BINARY_DIR}/build_header_c11.o")
add_test(NAME build_header_cxx17
  COMMAND "${CMAKE_CXX_COMPILER}" -x c++ -std=c++17 ${LK_STRICT_FLAGS} -I "${LK_ROOT}/include"
          -c "${LK_HEADER_SRC}" -o "${CMAKE_CURRENT_BINARY_DIR}/build_header_cxx17.o")
set_tests_properties(build_header_c99 build_header_c11 build_header_cxx17 PROPERTIES TIMEOUT 60)

# The C++ program and the second C unit are held to -Wpedantic as well.
if(TARGET build_header_cpp)
  target_compile_options(build_header_cpp PRIVATE -Wpedantic)
endif()
if(TARGET build_header_strict)
  target_compile_options(build_header_strict PRIVATE -Wpedantic)
endif()
if(TARGET build_header_link)
  add_library(build_header_link_tu2 OBJECT "${CMAKE_CURRENT_SOURCE_DIR}/build_header_link.c")
  target_compile_definitions(build_header_link_tu2 PRIVATE LKT_SECOND_TU)
  target_include_directories(build_header_link_tu2 PRIVATE "${LK_ROOT}/include")
  target_compile_options(build_header_link_tu2 PRIVATE ${LK_STRICT_FLAGS})
  target_compile_options(build_header_link PRIVATE -Wpedantic)
  target_sources(build_header_link PRIVATE $<TARGET_OBJECTS:build_header_link_tu2>)
endif()
