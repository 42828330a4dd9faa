# Reliability, included by c-tests/CMakeLists.txt. Registers:
#
#   reliability_stress   reliability/stress.c for LK_STRESS_SECONDS (30)
#                    seconds: a random mix of maps, streams, failures,
#                    cancellations, nested maps, run_sp crashes and time-outs,
#                    invoker churn, from 4 threads, and a stream of 10^7
#                    items; then no growth of threads, descriptors, children
#                    or RSS.
#   asan_<test>      every test of LK_CHECKED_TESTS (the api_/fault_/leak_
#                    tests of every area but build/ and mpi/, each backend's
#                    run of an invoker/ test included; a few listed below
#                    left out) with its program built again with
#                    -fsanitize=address,undefined against the same library,
#                    run by reliability/asan.sh.
#   valgrind_<test>  memcheck over the same tests (all but the few listed
#                    below; the slowest only with -DLK_RELIABILITY_LONG=ON)
#                    and over 15 s of stress: 0 errors, 0 bytes definitely or
#                    indirectly lost.
#
# The reliability/fault_signal_*, fault_status_* and fault_forksafety_*
# tests are plain test programs, registered by c-tests/CMakeLists.txt like
# every area's (labels: reliability, fault).
# c-tests/reliability/run-long.sh runs all of this with long settings; the
# figures it gives are in docs/reliability.md.

set(LK_REL_DIR "${CMAKE_CURRENT_SOURCE_DIR}/reliability")
option(LK_RELIABILITY_LONG "long settings: a 5-minute stress run, valgrind over every C test" OFF)
if(LK_RELIABILITY_LONG)
  set(LK_STRESS_SECONDS_DEFAULT 300)
else()
  set(LK_STRESS_SECONDS_DEFAULT 30)
endif()
set(LK_STRESS_SECONDS "${LK_STRESS_SECONDS_DEFAULT}" CACHE STRING "how long the stress test runs")

# lk_check_names(<list variable>): fail the configuration when a name in the
# list is not a registered test, so a renamed test cannot silently leave a
# skip list.
function(lk_check_names list)
  get_property(all GLOBAL PROPERTY LK_TESTS)
  foreach(name IN LISTS ${list})
    if(NOT name IN_LIST all)
      message(FATAL_ERROR "${list} names ${name}, which is no test")
    endif()
  endforeach()
endfunction()

# ---------------------------------------------------------------- stress
add_executable(reliability_stress "${LK_REL_DIR}/stress.c")
target_link_libraries(reliability_stress PRIVATE lkparallel Threads::Threads m)
target_include_directories(reliability_stress PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
target_compile_options(reliability_stress PRIVATE ${LK_WARNINGS} -UNDEBUG)
add_test(NAME reliability_stress COMMAND reliability_stress ${LK_STRESS_SECONDS})
math(EXPR LK_STRESS_TIMEOUT "${LK_STRESS_SECONDS} * 2 + 300")
set_tests_properties(reliability_stress PROPERTIES TIMEOUT ${LK_STRESS_TIMEOUT} LABELS reliability)

# ------------------------------------------- AddressSanitizer + UBSan build
# The same sources, compiled with the sanitizers and linked against the same
# (uninstrumented) library: ASan still sees every allocation the library
# makes (Rust's allocator is malloc), every access the test code makes, and
# leaks at exit. Runtime settings, each needed by some test:
#   allocator_may_return_null=1  an impossible allocation (lk_buffer_append
#       of 2^62 bytes, fault_status_system) must fail as the C library's
#       malloc does, returning NULL, instead of ASan ending the process;
#   handle_segv=0, handle_sigbus=0  tests crash children on purpose (SIGSEGV)
#       and check that the library reports the signal; ASan's handler would
#       turn the crash into exit status 1;
#   detect_leaks=1  LeakSanitizer at exit. The tests run through
#       c-tests/reliability/asan.sh, which counts leaks in the test's own
#       process only: a forked child that calls exit() would report its copy
#       of the parent's heap (memory only the parent's other threads point
#       to) and end with status 23 instead of its own (the script says why);
#   UBSan: halt_on_error=1 (with -fno-sanitize-recover), so any undefined
#       behaviour fails the test.
# -fno-sanitize=null: tests crash children on purpose by storing through a
# NULL pointer (and check the library reports the SIGSEGV); UBSan's null check
# would end those children with exit status 1 instead. ASan still catches a
# NULL access (as the SEGV it is).
set(LK_ASAN_FLAGS -fsanitize=address,undefined -fno-sanitize=null -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
set(LK_ASAN_ENV
  "ASAN_OPTIONS=allocator_may_return_null=1:handle_segv=0:handle_sigbus=0:detect_leaks=1:abort_on_error=0"
  "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1")
# Tests left out of the sanitizer build, each for a reason of the
# sanitizer's, not of the library's:
#   run_sp_fault_memory_limit, shared_fault_sp_memory_limit: set RLIMIT_AS
#       in the child below what ASan's shadow memory reserves (terabytes of
#       address space), so the child cannot run at all under ASan.
#   reliability_fault_forksafety_run_sp, _procs, _child_log_callback,
#   run_sp_api_handles_in_child, invoker_fault_fork_handle_threads,
#   run_sp_api_log_order (its threads call lk_run_sp at once): they
#       fork while other threads of the test allocate. GCC 12's libasan does not hold its allocator's locks
#       across fork (glibc's malloc does), so a child forked while another
#       thread was inside ASan's malloc waits forever on that lock the first
#       time it allocates (seen: the child blocked in
#       SizeClassAllocator64::GetFromAllocator). They run natively and under
#       valgrind, which checks the children too. (The processes run of
#       fault_fork_handle does run under ASan: while it forks, the other
#       thread waits on worker processes.)
#   run_sp_leak_fds: gives children 20 ms time limits, and one of its
#       children calls exit(), which under ASan runs LeakSanitizer's exit-time
#       scan (it stops the process with ptrace), longer than 20 ms under load.
set(LK_ASAN_SKIP run_sp_fault_memory_limit shared_fault_sp_memory_limit reliability_fault_forksafety_run_sp
    reliability_fault_forksafety_procs reliability_fault_forksafety_child_log_callback
    run_sp_api_handles_in_child invoker_fault_fork_handle_threads
    run_sp_api_log_order run_sp_leak_fds)
lk_check_names(LK_ASAN_SKIP)
# Tests to run without LeakSanitizer (each with its reason): none at present.
set(LK_ASAN_NO_LEAK_CHECK "")

# One sanitized build of each program, run as asan_<test> for each of its tests.
set(LK_ASAN_PROGRAMS "")
foreach(test IN LISTS LK_CHECKED_TESTS)
  if(test IN_LIST LK_ASAN_SKIP)
    continue()
  endif()
  get_property(program GLOBAL PROPERTY LK_TEST_PROGRAM_${test})
  get_property(args GLOBAL PROPERTY LK_TEST_ARGS_${test})
  if(NOT program IN_LIST LK_ASAN_PROGRAMS)
    list(APPEND LK_ASAN_PROGRAMS ${program})
    get_target_property(sources ${program} SOURCES)
    add_executable(asan_${program} ${sources})
    target_link_libraries(asan_${program} PRIVATE lkparallel Threads::Threads m)
    target_include_directories(asan_${program} PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
    target_compile_options(asan_${program} PRIVATE ${LK_WARNINGS} -UNDEBUG ${LK_ASAN_FLAGS})
    target_link_options(asan_${program} PRIVATE ${LK_ASAN_FLAGS})
  endif()
  add_test(NAME asan_${test} COMMAND "${LK_REL_DIR}/asan.sh" $<TARGET_FILE:asan_${program}> ${args})
  set(env ${LK_ASAN_ENV})
  if(test IN_LIST LK_ASAN_NO_LEAK_CHECK)
    string(REPLACE "detect_leaks=1" "detect_leaks=0" env "${env}")
  endif()
  set_tests_properties(asan_${test} PROPERTIES TIMEOUT 300 LABELS "reliability;asan" ENVIRONMENT "${env}")
endforeach()

# ------------------------------------------------------------- valgrind
# c-tests/reliability/valgrind.sh runs memcheck with --leak-check=full
# --errors-for-leak-kinds=definite,indirect and the documented suppressions
# (c-tests/reliability/valgrind.supp), each process logging to its own file.
# It fails when the test fails, when the test's process has any error (a
# byte definitely or indirectly lost included), or when a child it forked
# has a memory error. It decides from the logs instead of passing
# --error-exitcode=1, which valgrind would also apply in forked children,
# changing the exit statuses the library reports (the script says why).
find_program(LK_VALGRIND valgrind)
if(NOT LK_VALGRIND)
  message(FATAL_ERROR "valgrind is missing: scripts/test installs it")
endif()
# Which tests: every test of LK_CHECKED_TESTS (as for ASan), except
#  - those that cannot work under valgrind, each for a reason of valgrind's:
#      reliability_fault_status_system  lowers RLIMIT_NOFILE, which valgrind
#                               does not let a program change (it keeps
#                               descriptors of its own above the limit);
#      run_sp_leak_fds          gives children 20 ms time limits, shorter than
#                               a child takes to start under valgrind;
#      processes_api_recycle_rss  measures workers' resident memory, which
#                               valgrind multiplies;
#      processes_api_skewed, _create_time, _hot_path  measure speed-up,
#                               creation time, and the workers' syscalls and
#                               context switches, all of which valgrind's own
#                               scheduling changes;
#      hardening_api_waits_no_polling, _api_idle_no_cpu  count wake-ups and
#                               CPU time: valgrind 3.19 does not know
#                               pidfd_open, so the library waits for child
#                               processes with its timed waitpid fallback,
#                               and valgrind's scheduler adds wake-ups of its
#                               own;
#      hardening_fault_oversubscribed_pool  runs 4096 threads; valgrind runs
#                               at most 500 (--max-threads), one at a time;
#      hardening_fault_closed_std_fds  checks that descriptors 0-2 stay
#                               closed in run_sp children and workers, but
#                               valgrind opens each forked child's log file
#                               on the lowest free descriptor (0);
#      hardening_fault_garbage_channels  has children write garbage into
#                               every descriptor 3..64, which under valgrind
#                               are also the forked children's log files;
#  - the slow ones (over about 5 s under valgrind here), which run only with
#    -DLK_RELIABILITY_LONG=ON (c-tests/reliability/run-long.sh), so the test
#    command's valgrind runs stay within a few minutes on two cores.
set(LK_VALGRIND_SKIP reliability_fault_status_system run_sp_leak_fds processes_api_recycle_rss
    processes_api_skewed processes_api_create_time processes_api_hot_path
    hardening_api_waits_no_polling hardening_api_idle_no_cpu hardening_fault_oversubscribed_pool
    hardening_fault_closed_std_fds hardening_fault_garbage_channels)
set(LK_VALGRIND_LONG_ONLY run_sp_api_in_callback run_sp_api_threads library_api_proc_count
    processes_api_cow_pss invoker_api_progress_threads invoker_api_progress_processes
    invoker_api_njobs_processes invoker_api_cancel_threads
    reliability_fault_signal_sigalrm_sp reliability_fault_signal_sigalrm_threads
    reliability_fault_signal_sigint_cancel run_sp_fault_sigalrm run_sp_fault_log_then_crash
    processes_fault_worker_death processes_leak_lifecycles processes_leak_shutdown run_sp_leak_zombie
    reliability_fault_forksafety_procs reliability_fault_forksafety_run_sp
    reliability_fault_forksafety_child_log_callback
    # range/ and stream/: long maps and streams (10^7 items, many windows),
    # progress over a second or more, worker deaths and time-outs
    range_api_alignment_threads range_api_alignment_processes range_api_progress_threads
    range_api_progress_processes range_fault_worker_death_processes
    stream_api_order_threads stream_api_order_processes stream_api_progress_threads stream_api_progress_processes
    stream_fault_callbacks_threads stream_fault_callbacks_processes stream_fault_cancel_threads
    stream_fault_cancel_processes stream_fault_keep_going_threads stream_fault_keep_going_processes
    stream_fault_nested_threads stream_fault_nested_processes stream_fault_worker_death_processes
    stream_leak_memory_threads stream_leak_memory_processes processes_fault_item_timeout)
lk_check_names(LK_VALGRIND_SKIP)
lk_check_names(LK_VALGRIND_LONG_ONLY)
# Iteration counts (argv[1]) for tests that take one, under valgrind.
set(LK_VALGRIND_ARGS_reliability_fault_forksafety_run_sp 100)
set(LK_VALGRIND_ARGS_reliability_fault_forksafety_procs 50)
set(LK_VALGRIND_ARGS_reliability_fault_forksafety_child_log_callback 50 10)

foreach(test IN LISTS LK_CHECKED_TESTS)
  if(test IN_LIST LK_VALGRIND_SKIP OR (test IN_LIST LK_VALGRIND_LONG_ONLY AND NOT LK_RELIABILITY_LONG))
    continue()
  endif()
  get_property(program GLOBAL PROPERTY LK_TEST_PROGRAM_${test})
  get_property(args GLOBAL PROPERTY LK_TEST_ARGS_${test})
  if(DEFINED LK_VALGRIND_ARGS_${test})
    set(args ${LK_VALGRIND_ARGS_${test}})
  endif()
  add_test(NAME valgrind_${test} COMMAND "${LK_REL_DIR}/valgrind.sh" $<TARGET_FILE:${program}> ${args})
  # LK_SHARED_MEMORY: memcheck marks a new mapping's whole range, and the
  # default shared region is as big as the machine's memory (a minute or
  # more under memcheck, and gigabytes of its own memory).
  set_tests_properties(valgrind_${test} PROPERTIES TIMEOUT 600 LABELS "reliability;valgrind"
                       ENVIRONMENT "LK_VALGRIND=${LK_VALGRIND};LK_SHARED_MEMORY=256M")
endforeach()

# The stress mix under memcheck too (shorter: valgrind runs it about 50 times
# slower). Not under ASan: it forks from busy threads all the time (see
# LK_ASAN_SKIP above).
if(LK_RELIABILITY_LONG)
  set(LK_VALGRIND_STRESS_SECONDS 120)
else()
  set(LK_VALGRIND_STRESS_SECONDS 15)
endif()
add_test(NAME valgrind_reliability_stress
         COMMAND "${LK_REL_DIR}/valgrind.sh" $<TARGET_FILE:reliability_stress> ${LK_VALGRIND_STRESS_SECONDS})
# RSS is not compared under valgrind (LK_STRESS_RSS_CHECK=0): memcheck's shadow
# memory grows with the heap and is never given back; its leak check, exact,
# takes the place of that comparison. Its oversized pools stay well within the
# 500 threads valgrind runs (LK_STRESS_MAX_POOL=64: four stress threads may
# each hold one, besides their other invokers). The long stream is 10^5 items
# there (10^7 would take memcheck many minutes), and the shared memory
# region 256 MiB (as for the other memcheck runs, above).
set_tests_properties(valgrind_reliability_stress PROPERTIES TIMEOUT 900 LABELS "reliability;valgrind"
                     ENVIRONMENT "LK_VALGRIND=${LK_VALGRIND};LK_STRESS_RSS_CHECK=0;LK_STRESS_MAX_POOL=64;LK_STREAM_ITEMS=100000;LK_SHARED_MEMORY=256M")
