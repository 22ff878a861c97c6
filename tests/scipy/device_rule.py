# SPDX-License-Identifier: MIT
"""The SciPy checks' rule for the device under test (the same as the C tests', tests/testutil.c):

  * no OpenCL device, or VOXAUG_DEVICE=reference (the "device" would be the reference path compared with itself):
    the checks of the reference path still run, the device comparisons do not, and the check exits 77 so that
    ctest reports it as skipped, not passed;
  * VOXAUG_REQUIRE_DEVICE=1 turns either case into a failure.
"""
import os
import sys

SKIP = 77


def required():
    return os.environ.get("VOXAUG_REQUIRE_DEVICE") == "1"


def device_is_reference():
    return os.environ.get("VOXAUG_DEVICE") in ("reference", "ref")


def no_device(why):
    """Report that the device under test cannot run; True if that is a failure (VOXAUG_REQUIRE_DEVICE=1)."""
    print("no OpenCL device under test, reference path only: %s" % why)
    if required():
        print("FAIL VOXAUG_REQUIRE_DEVICE=1 but the device under test cannot run")
        return True
    return False


def exit_code(failed, device_ran):
    """1 if any check failed, else 77 (skipped) when the device comparisons could not run, else 0."""
    if failed:
        return 1
    if not device_ran:
        print("device comparisons skipped: exit %d (ctest: skipped)" % SKIP)
        sys.stdout.flush()
        return SKIP
    return 0
