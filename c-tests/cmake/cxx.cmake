# C++ layer (include/lkparallel.hpp). The cxx/api_*.cpp tests are picked up by
# c-tests/CMakeLists.txt (as cxx_api_*); these are the ones that need more
# than one file or other flags.

# The header's range loops and streams, instantiated by these tests, stay
# clean under the strict warnings too.
set(LK_CXX_STRICT -Wpedantic -Wshadow -Wconversion)
target_compile_options(cxx_api_invoker PRIVATE ${LK_CXX_STRICT})
target_compile_options(cxx_api_range PRIVATE ${LK_CXX_STRICT})
target_compile_options(cxx_api_stream PRIVATE ${LK_CXX_STRICT})

# Two translation units that both include the header, linked into one program.
add_executable(cxx_two_tu "${CMAKE_CURRENT_SOURCE_DIR}/cxx/two_tu_a.cpp"
                          "${CMAKE_CURRENT_SOURCE_DIR}/cxx/two_tu_b.cpp")
target_link_libraries(cxx_two_tu PRIVATE lkparallel Threads::Threads)
target_include_directories(cxx_two_tu PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
target_compile_options(cxx_two_tu PRIVATE ${LK_WARNINGS} ${LK_CXX_STRICT} -UNDEBUG)
add_test(NAME cxx_two_tu COMMAND cxx_two_tu)
set_tests_properties(cxx_two_tu PROPERTIES TIMEOUT 120 LABELS cxx)

# The header under C++20 (std::span, designated initializers), strict warnings.
add_executable(cxx_cxx20 "${CMAKE_CURRENT_SOURCE_DIR}/cxx/cxx20.cpp")
set_target_properties(cxx_cxx20 PROPERTIES CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON)
target_link_libraries(cxx_cxx20 PRIVATE lkparallel Threads::Threads)
target_include_directories(cxx_cxx20 PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
target_compile_options(cxx_cxx20 PRIVATE ${LK_WARNINGS} ${LK_CXX_STRICT} -UNDEBUG)
add_test(NAME cxx_cxx20 COMMAND cxx_cxx20)
set_tests_properties(cxx_cxx20 PROPERTIES TIMEOUT 120 LABELS cxx)
