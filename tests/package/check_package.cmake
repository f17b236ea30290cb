# Installs the built project into a temporary prefix, then configures, builds and runs
# examples/consumer against it with find_package(wmark).
set(prefix "${BUILD_DIR}/package-test/prefix")
set(consumer_build "${BUILD_DIR}/package-test/consumer")
file(REMOVE_RECURSE "${BUILD_DIR}/package-test")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "failed (${code}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/examples/consumer" -B "${consumer_build}"
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build "${consumer_build}")
run("${consumer_build}/consumer")
# The example built from the package refuses a bad flag with exit code 2 (it runs in full
# as the example_custom_training_loop test, from the in-tree build).
execute_process(COMMAND "${consumer_build}/custom_training_loop" --no-such-flag 1 RESULT_VARIABLE code
                OUTPUT_QUIET ERROR_QUIET)
if(NOT code EQUAL 2)
  message(FATAL_ERROR "custom_training_loop from the package: expected exit 2 for a bad flag, got ${code}")
endif()
