# Header checks (c-tests/build/), included by c-tests/CMakeLists.txt.
#
# build_header_strict, build_header_cpp, build_header_link: test programs
# (build/header_*.c, .cpp), held to -Wpedantic as well. build_header_link is
# two translation units: build/header_link.c compiled a second time with
# LKT_SECOND_TU and linked into the same program.
#
# build_header_c99 / _c11 / _cxx17: compile build/header_strict.c (which
# includes lkparallel.h twice and uses all of it) as C99, C11 and C++17 with
# -Wall -Wextra -Wpedantic -Werror. They run as tests (the compiler is the
# test command) so a header that fails them fails those tests, not the whole
# build.

set(LK_STRICT_FLAGS -Wall -Wextra -Wpedantic -Werror)
set(LK_BUILD_DIR "${CMAKE_CURRENT_SOURCE_DIR}/build")
set(LK_HEADER_SRC "${LK_BUILD_DIR}/header_strict.c")

foreach(src IN ITEMS header_strict.c header_cpp.cpp header_link.c)
  lk_test(build "${LK_BUILD_DIR}/${src}")
endforeach()
target_compile_options(build_header_strict PRIVATE -Wpedantic)
target_compile_options(build_header_cpp PRIVATE -Wpedantic)
target_compile_options(build_header_link PRIVATE -Wpedantic)
add_library(build_header_link_tu2 OBJECT "${LK_BUILD_DIR}/header_link.c")
target_compile_definitions(build_header_link_tu2 PRIVATE LKT_SECOND_TU)
target_include_directories(build_header_link_tu2 PRIVATE "${LK_ROOT}/include")
target_compile_options(build_header_link_tu2 PRIVATE ${LK_STRICT_FLAGS})
target_sources(build_header_link PRIVATE $<TARGET_OBJECTS:build_header_link_tu2>)

add_test(NAME build_header_c99
  COMMAND "${CMAKE_C_COMPILER}" -std=c99 ${LK_STRICT_FLAGS} -I "${LK_ROOT}/include"
          -c "${LK_HEADER_SRC}" -o "${CMAKE_CURRENT_BINARY_DIR}/build_header_c99.o")
add_test(NAME build_header_c11
  COMMAND "${CMAKE_C_COMPILER}" -std=c11 ${LK_STRICT_FLAGS} -I "${LK_ROOT}/include"
          -c "${LK_HEADER_SRC}" -o "${CMAKE_CURRENT_BINARY_DIR}/build_header_c11.o")
add_test(NAME build_header_cxx17
  COMMAND "${CMAKE_CXX_COMPILER}" -x c++ -std=c++17 ${LK_STRICT_FLAGS} -I "${LK_ROOT}/include"
          -c "${LK_HEADER_SRC}" -o "${CMAKE_CURRENT_BINARY_DIR}/build_header_cxx17.o")
set_tests_properties(build_header_c99 build_header_c11 build_header_cxx17 PROPERTIES TIMEOUT 60 LABELS build)
