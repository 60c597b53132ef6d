# Unit tests: every tests/unit/test_<module>.c is one Criterion executable, one CTest test.
# Only with RLY_TESTS=ON: the release build never looks for Criterion.
find_library(CRITERION_LIB criterion)
if(NOT CRITERION_LIB)
  message(FATAL_ERROR "RLY_TESTS=ON needs Criterion (Debian: libcriterion-dev; scripts/deps.sh "
                      "test installs it); the relay alone builds with -DRLY_TESTS=OFF")
endif()
file(GLOB RLY_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.c)
foreach(src ${RLY_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE rly_app ${CRITERION_LIB})
  target_compile_definitions(${name} PRIVATE RLY_VECTORS_DIR="${CMAKE_SOURCE_DIR}/tests/vectors")
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # --jobs 1: Criterion forks a process per test already; keep the output ordered.
  add_test(NAME unit_${name} COMMAND ${name} --jobs 1 --short-filename)
  set_tests_properties(unit_${name} PROPERTIES LABELS unit TIMEOUT 120)
endforeach()

# Fuzz corpus replay: every fuzz/fuzz_<target>.c is linked with a plain main() that feeds it
# each file of fuzz/corpus/<target>/ (gcc + ASan/UBSan in make test; libFuzzer via make fuzz).
file(GLOB RLY_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/fuzz/fuzz_*.c)
foreach(src ${RLY_FUZZ_TARGETS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name}_replay ${src} ${CMAKE_SOURCE_DIR}/fuzz/replay_main.c)
  target_link_libraries(${name}_replay PRIVATE rly_app)
  set_target_properties(${name}_replay PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  string(REGEX REPLACE "^fuzz_" "" corpus ${name})
  add_test(NAME fuzz_replay_${corpus}
           COMMAND ${name}_replay ${CMAKE_SOURCE_DIR}/fuzz/corpus/${corpus})
  set_tests_properties(fuzz_replay_${corpus} PROPERTIES LABELS fuzz TIMEOUT 300)
endforeach()

# Integration tests: tests/integ/test_*.sh drive the built binaries.
file(GLOB RLY_INTEG_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integ/test_*.sh)
foreach(script ${RLY_INTEG_TESTS})
  get_filename_component(name ${script} NAME_WE)
  add_test(NAME integ_${name} COMMAND bash ${script})
  set_tests_properties(integ_${name} PROPERTIES LABELS integ TIMEOUT 300
    ENVIRONMENT "RLY_BUILD_DIR=${CMAKE_BINARY_DIR};RLY_SOURCE_DIR=${CMAKE_SOURCE_DIR};RLY_SANITIZE=$<BOOL:${RLY_SANITIZE}>")
endforeach()

# Interop tests: tests/interop/*.test.mjs, js-libp2p peers (pinned in package-lock.json) against the
# built relay-server / test_client, run with node's test runner by tests/interop/run.sh. One CTest
# test per file, so the release and the ASan+UBSan runs each drive their own binaries. The
# interop_npm_ci fixture first makes tests/interop/node_modules match the lockfile (npm ci, only
# when it is missing or older than the lockfile).
file(GLOB RLY_INTEROP_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/interop/*.test.mjs)
if(RLY_INTEROP_TESTS)
  add_test(NAME interop_npm_ci COMMAND bash ${CMAKE_SOURCE_DIR}/tests/interop/run.sh --deps)
  set_tests_properties(interop_npm_ci PROPERTIES LABELS interop TIMEOUT 600
    FIXTURES_SETUP rly_interop_node_modules)
  foreach(script ${RLY_INTEROP_TESTS})
    get_filename_component(file ${script} NAME)
    string(REGEX REPLACE "\\.test\\.mjs$" "" name ${file})
    add_test(NAME interop_${name} COMMAND bash ${CMAKE_SOURCE_DIR}/tests/interop/run.sh ${script})
    set_tests_properties(interop_${name} PROPERTIES LABELS interop TIMEOUT 300
      FIXTURES_REQUIRED rly_interop_node_modules
      ENVIRONMENT "RLY_BUILD_DIR=${CMAKE_BINARY_DIR};RLY_SOURCE_DIR=${CMAKE_SOURCE_DIR};RLY_SANITIZE=$<BOOL:${RLY_SANITIZE}>")
  endforeach()
endif()

# Test tools: tests/tools/<name>.c are helper programs the integration and interop tests drive
# (built into build/tests/, never installed).
file(GLOB RLY_TEST_TOOLS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/tools/*.c)
foreach(src ${RLY_TEST_TOOLS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE rly_app)
  set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endforeach()
