# Distributed maps over MPI (include/lkparallel_mpi.h, src/dist, c-tests/mpi).
#
# Without MPI: the communicator table driven from C (api_comm_table), and the
# library's independence from MPI (no NEEDED libmpi, no MPI symbol).
# With MPI (scripts/test installs Open MPI): the adapter header as C99, C11
# and C++17; every mode at np 1, 2 and 3 against the single-process map;
# failure agreement; mismatches; cancellation (from a callback, and by
# SIGUSR1 through mpirun); a stop (failure, cancel) on one rank reaching
# every worker of the others within a few items; memory per rank that
# follows its share (ROOT and args_at_root without arrays off rank 0,
# compact OWNED results, ownership before a map); progress across ranks
# and the balance report; a rank killed mid-map; log forwarding; the MPI
# batch-recommend example; a consumer of the installed package at np 3.
# Every launch goes through c-tests/mpi/launch.sh: loopback only, under a
# timeout that dumps the stacks of a hung job. The MPI tests take one lock,
# so they never oversubscribe the machine together.
set(LK_MPI_DIR "${LK_ROOT}/c-tests/mpi")

lk_test(mpi "${LK_MPI_DIR}/api_comm_table.c")

add_test(NAME build_no_mpi_link COMMAND "${LK_MPI_DIR}/no_mpi_link.sh" "${LK_BUILT}")

find_package(MPI COMPONENTS C)
if(NOT MPI_C_FOUND)
  # Loud, never skipped: scripts/test installs openmpi-bin and libopenmpi-dev.
  add_test(NAME mpi_found COMMAND "${CMAKE_COMMAND}" -E false)
  message(WARNING "MPI for C not found: the MPI tests fail (install openmpi-bin libopenmpi-dev)")
  return()
endif()

# The adapter compiles cleanly as C99, C11 and C++17.
list(TRANSFORM MPI_C_INCLUDE_DIRS PREPEND "-I" OUTPUT_VARIABLE _lk_mpi_inc)
foreach(std IN ITEMS c99 c11)
  add_test(NAME build_mpi_header_${std}
           COMMAND "${CMAKE_C_COMPILER}" -std=${std} -Wall -Wextra -Wpedantic -Werror -fsyntax-only
                   "-I${LK_ROOT}/include" ${_lk_mpi_inc} "${LK_MPI_DIR}/build_mpi_header.c")
endforeach()
add_test(NAME build_mpi_header_cxx17
         COMMAND "${CMAKE_CXX_COMPILER}" -x c++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -fsyntax-only
                 "-I${LK_ROOT}/include" ${_lk_mpi_inc} "${LK_MPI_DIR}/build_mpi_header.c")
unset(_lk_mpi_inc)

# lk_mpi_program(<name> <source> [include dirs...])
function(lk_mpi_program name source)
  add_executable(${name} "${source}")
  set_target_properties(${name} PROPERTIES C_STANDARD 11)
  target_include_directories(${name} PRIVATE ${ARGN})
  target_link_libraries(${name} PRIVATE lkparallel MPI::MPI_C Threads::Threads m)
  target_compile_options(${name} PRIVATE ${LK_WARNINGS} -UNDEBUG)
endfunction()

# lk_mpi_test(<name> <seconds> <command...>): one MPI test; all share one lock.
function(lk_mpi_test name seconds)
  add_test(NAME ${name} COMMAND ${ARGN})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${seconds} RESOURCE_LOCK mpi LABELS mpi)
endfunction()

set(_lk_launch "${LK_MPI_DIR}/launch.sh")
foreach(prog IN ITEMS mpi_modes mpi_failure mpi_mismatch mpi_logs mpi_cancel mpi_kill mpi_stop mpi_share mpi_progress)
  lk_mpi_program(${prog} "${LK_MPI_DIR}/${prog}.c")
endforeach()
foreach(np IN ITEMS 1 2 3)
  lk_mpi_test(mpi_modes_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_modes>)
  lk_mpi_test(mpi_failure_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_failure>)
  lk_mpi_test(mpi_logs_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_logs>)
  lk_mpi_test(mpi_cancel_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_cancel> callback)
  lk_mpi_test(mpi_share_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_share>)
  lk_mpi_test(mpi_progress_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_progress>)
endforeach()
foreach(np IN ITEMS 2 3)
  lk_mpi_test(mpi_mismatch_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_mismatch>)
  lk_mpi_test(mpi_stop_np${np} 60 "${_lk_launch}" 30 ${np} $<TARGET_FILE:mpi_stop>)
  lk_mpi_test(mpi_kill_rank_np${np} 60 "${LK_MPI_DIR}/kill_rank.sh" ${np} $<TARGET_FILE:mpi_kill>)
endforeach()
lk_mpi_test(mpi_cancel_sigusr1_np3 60 "${LK_MPI_DIR}/cancel_signal.sh" 3 $<TARGET_FILE:mpi_cancel>)

# The MPI batch-recommend example, checked against the sequential loop.
lk_mpi_program(batch_recommend_mpi "${LK_ROOT}/examples/batch_recommend_mpi.c" "${LK_ROOT}/examples")
foreach(schedule IN ITEMS block dynamic)
  lk_mpi_test(mpi_example_np3_${schedule} 120
              "${_lk_launch}" 90 3 $<TARGET_FILE:batch_recommend_mpi> 2000 ${schedule})
endforeach()
unset(_lk_launch)

# A consumer of the installed package (COMPONENTS mpi) at np 3.
if(EXISTS "${LK_ROOT}/scripts/install")
  get_filename_component(_lk_release_dir "${LK_BUILT}" DIRECTORY)
  get_filename_component(_lk_target_dir "${_lk_release_dir}" DIRECTORY)
  lk_mpi_test(mpi_consumer_np3 300 "${LK_MPI_DIR}/consumer_np3.sh")
  set_tests_properties(mpi_consumer_np3 PROPERTIES
    ENVIRONMENT "LK_ROOT=${LK_ROOT};LK_WORK=${CMAKE_BINARY_DIR}/mpi/consumer;LK_CMAKE=${CMAKE_COMMAND};CC=${CMAKE_C_COMPILER};CARGO_TARGET_DIR=${_lk_target_dir}")
  unset(_lk_release_dir)
  unset(_lk_target_dir)
endif()
