# Python binding (bindings/python): its unittest suite, with a small C library
# of operations (bindings/python/tests/lkpy_ops.c) built here.
find_package(Python3 3.8 COMPONENTS Interpreter REQUIRED)

add_library(lkpy_ops SHARED "${LK_ROOT}/bindings/python/tests/lkpy_ops.c")
target_link_libraries(lkpy_ops PRIVATE lkparallel)
target_compile_options(lkpy_ops PRIVATE ${LK_WARNINGS})

add_test(NAME python_binding
         COMMAND "${Python3_EXECUTABLE}" -m unittest discover -v -s "${LK_ROOT}/bindings/python/tests")
set_tests_properties(python_binding PROPERTIES
  TIMEOUT 300
  ENVIRONMENT "PYTHONPATH=${LK_ROOT}/bindings/python;PYTHONDONTWRITEBYTECODE=1;LKPARALLEL_LIB=${CMAKE_BINARY_DIR}/lib/${LK_SONAME};LKPARALLEL_TEST_OPS=$<TARGET_FILE:lkpy_ops>")
