# stemedb_module(NAME SOURCES ... DEPS ...): one static library per module. A module links only
# the modules it may depend on, so the direction of dependencies is enforced by the build.
function(stemedb_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(stemedb_${name} STATIC ${M_SOURCES})
  target_include_directories(stemedb_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                             PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(stemedb_${name} PUBLIC ${M_DEPS} PRIVATE stemedb_warnings ${M_PRIVATE_DEPS})
endfunction()

# stemedb_test(NAME SOURCES ... DEPS ... [LABELS ...] [COST n]): one GoogleTest binary, its tests
# registered with CTest. COST orders a first run: a tree without timings from an earlier run starts
# the binaries with the highest cost first, so that their slow tests do not run alone at the end.
function(stemedb_test name)
  cmake_parse_arguments(T "" "COST" "SOURCES;DEPS;LABELS" ${ARGN})
  if(NOT DEFINED T_COST)
    set(T_COST 0)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main stemedb_warnings)
  # The tests' own code is compiled unoptimised: it is half of a build's compile time (mostly the
  # templates of RapidCheck and GoogleTest, optimised for nothing), and the code under test is in
  # the libraries, compiled as the build type says.
  target_compile_options(${name} PRIVATE -O0)
  # Its sources are compiled in batches of four, each as one translation unit: most of a test
  # file's compile time goes to the headers and templates every test file shares (GoogleTest,
  # RapidCheck, the model's generators), which a batch pays for once. Names local to a test file
  # must therefore be unique across its binary.
  set_target_properties(${name} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 4)
  # Built as a list, each property added only with its value: an empty value would take the next
  # property's name as its own.
  set(properties COST ${T_COST})
  if(T_LABELS)
    list(APPEND properties LABELS "${T_LABELS}")
  endif()
  if(STEMEDB_SANITIZE MATCHES "thread")
    list(APPEND properties ENVIRONMENT
         "TSAN_OPTIONS=halt_on_error=1 second_deadlock_stack=1 suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp")
  elseif(STEMEDB_SANITIZE MATCHES "address")
    # One variable only: a list would not survive test discovery, which splits it into separate
    # properties. UBSan needs none: -fno-sanitize-recover=all already makes its findings fatal.
    list(APPEND properties ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1 abort_on_error=1")
  endif()
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES ${properties})
endfunction()
