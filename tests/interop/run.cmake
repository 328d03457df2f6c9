# Runs `node --test` on every tests/interop/*.test.js. Invoked by CTest (interop.node) as
#   cmake -DNODE=<node> -DDIR=<tests/interop> -P run.cmake
# Missing npm packages are a failure, never a skip: the test command installs them.
foreach(pkg openid-client jose @apidevtools/swagger-parser ajv playwright-core realm-web)
  if(NOT EXISTS "${DIR}/node_modules/${pkg}/package.json")
    message(FATAL_ERROR
            "interop.node: ${DIR}/node_modules/${pkg} is missing. "
            "Run `npm ci --no-audit --no-fund` in tests/interop first.")
  endif()
endforeach()
if(NOT DEFINED ENV{IDPD_BIN} OR NOT EXISTS "$ENV{IDPD_BIN}")
  message(FATAL_ERROR "interop.node: IDPD_BIN does not name the idpd binary ($ENV{IDPD_BIN})")
endif()
# Screenshots of an earlier run would pass for this one's.
if(DEFINED ENV{IDPD_ARTIFACT_DIR} AND IS_DIRECTORY "$ENV{IDPD_ARTIFACT_DIR}")
  file(GLOB old_artifacts "$ENV{IDPD_ARTIFACT_DIR}/*.png")
  if(old_artifacts)
    file(REMOVE ${old_artifacts})
  endif()
endif()
file(GLOB tests RELATIVE "${DIR}" "${DIR}/*.test.js")
list(SORT tests)
if(NOT tests)
  message(FATAL_ERROR "interop.node: no *.test.js in ${DIR}")
endif()
execute_process(COMMAND "${NODE}" --test ${tests} WORKING_DIRECTORY "${DIR}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "interop.node: node --test failed (${rc})")
endif()
