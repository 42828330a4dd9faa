# What the consumer project (an installed package) and the subproject
# (lkparallel built inside another project) check and build alike: the
# package's targets and version, then the four consumer programs, C and C++,
# against the shared and the static library.
set(_lk_consumer_dir "${CMAKE_CURRENT_LIST_DIR}")

# lk_check_package(<how>): the targets exist and the version is the expected
# one; <how> names the way lkparallel was brought in, for the messages.
function(lk_check_package how)
  foreach(target IN ITEMS lkparallel::lkparallel lkparallel::lkparallel_static)
    if(NOT TARGET ${target})
      message(FATAL_ERROR "${how} did not define ${target}")
    endif()
  endforeach()
  if(DEFINED LK_EXPECT_VERSION AND NOT lkparallel_VERSION STREQUAL LK_EXPECT_VERSION)
    message(FATAL_ERROR "${how} gave lkparallel ${lkparallel_VERSION}, expected ${LK_EXPECT_VERSION}")
  endif()
endfunction()

# consumer_{c,cxx}_{shared,static}: consumer.c and consumer.cpp linked to
# lkparallel::lkparallel and lkparallel::lkparallel_static.
function(lk_add_consumers)
  foreach(kind IN ITEMS shared static)
    if(kind STREQUAL "shared")
      set(lib lkparallel::lkparallel)
    else()
      set(lib lkparallel::lkparallel_static)
    endif()
    add_executable(consumer_c_${kind} "${_lk_consumer_dir}/consumer.c")
    target_link_libraries(consumer_c_${kind} PRIVATE ${lib})
    add_executable(consumer_cxx_${kind} "${_lk_consumer_dir}/consumer.cpp")
    target_link_libraries(consumer_cxx_${kind} PRIVATE ${lib})
  endforeach()
endfunction()
