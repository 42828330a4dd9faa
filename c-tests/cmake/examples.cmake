# The examples (examples/*.c), built as users would build them and run with
# small sizes as tests, so an example that stops compiling or stops checking
# out fails the test command. Each program checks its own output (against a
# sequential loop, or a plain map) and exits non-zero when it differs.
#
#   example_batch_recommend          2,000 users: lk_invoker_map vs a sequential loop
#   example_range_map                200,000 ratings through a range function,
#                                    checked against a sequential loop, an item
#                                    function and n_jobs 1; and a failing map
#   example_batch_recommend_stream   5,000 users streamed to a file and checked
#                                    against a plain map in pieces; _window: a
#                                    window of 7 users and 3 workers; _memory:
#                                    the in-memory way (-m)

set(LK_EXAMPLES_DIR "${LK_ROOT}/examples")

foreach(name IN ITEMS batch_recommend range_map batch_recommend_stream)
  add_executable(example_${name} "${LK_EXAMPLES_DIR}/${name}.c")
  add_dependencies(example_${name} lk_stage_library)
  target_link_libraries(example_${name} PRIVATE lkparallel m)
  target_include_directories(example_${name} PRIVATE "${LK_EXAMPLES_DIR}")
  target_compile_options(example_${name} PRIVATE ${LK_WARNINGS})
endforeach()

lk_test_run(example_batch_recommend example_batch_recommend "examples;api" 2000)
lk_test_run(example_range_map example_range_map "examples;api" 200000 2)
set(_lk_out "${CMAKE_CURRENT_BINARY_DIR}/example_recommendations")
lk_test_run(example_batch_recommend_stream example_batch_recommend_stream "examples;api"
            -u 5000 -i 1000 -j 2 -o "${_lk_out}_stream.bin")
lk_test_run(example_batch_recommend_stream_window example_batch_recommend_stream "examples;api"
            -u 5000 -i 1000 -j 3 -w 7 -o "${_lk_out}_window.bin")
lk_test_run(example_batch_recommend_stream_memory example_batch_recommend_stream "examples;api"
            -u 5000 -i 1000 -j 2 -m -o "${_lk_out}_memory.bin")
unset(_lk_out)
