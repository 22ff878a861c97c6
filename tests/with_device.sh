#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs a test that uses the default device (the CLI tests, check_pipeline, bench_quick) under the rule of the
# C tests (tests/testutil.c) and the SciPy checks (tests/scipy/device_rule.py):
#   - an OpenCL device opens and VOXAUG_DEVICE is not 'reference': the test runs as it is;
#   - otherwise it runs on the reference path (VOXAUG_DEVICE=reference), so that what does not depend on the
#     device is still checked, and a pass exits 77: ctest reports it as skipped, not passed;
#   - VOXAUG_REQUIRE_DEVICE=1 turns the missing device into a failure.
# Usage: with_device.sh CLI COMMAND [ARGS...]
cli=${1:?usage: with_device.sh CLI COMMAND [ARGS...]}
shift
why=""
case "${VOXAUG_DEVICE:-}" in
reference | ref) why="VOXAUG_DEVICE=${VOXAUG_DEVICE}: the device under test is the reference path" ;;
*) "$cli" devices | grep -q "^[0-9][0-9]*:[0-9]" || why="no OpenCL device ($("$cli" devices | tail -n 1))" ;;
esac
[ -z "$why" ] && exec "$@"
if [ "${VOXAUG_REQUIRE_DEVICE:-}" = 1 ]; then
    echo "FAIL: VOXAUG_REQUIRE_DEVICE=1 but $why"
    exit 1
fi
echo "no device under test: $why; running on the reference path, device parts not covered"
VOXAUG_DEVICE=reference "$@"
rc=$?
[ "$rc" -eq 0 ] && { echo "passed on the reference path: exit 77 (ctest: skipped)"; exit 77; }
exit "$rc"
