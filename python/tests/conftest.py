# SPDX-License-Identifier: MIT
"""Shared fixtures of the Python tests: the device context, the CLI, seeded random volumes, real data."""
import os
import shutil

import numpy as np
import pytest

import voxaug

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TEMPLATES = "/usr/share/mricron/templates"
REQUIRE = os.environ.get("VOXAUG_REQUIRE_DEVICE") == "1"  # CI: what a test needs must be there, not skipped


def pytest_report_header(config):
    return [f"voxaug {voxaug.version()} from {voxaug._capi.LIBRARY_PATH}", f"test seed: {seed_value()}"]


def seed_value():
    """The tests' random seed: $VOXAUG_TEST_SEED to replay a run, else one fixed per run and printed."""
    s = os.environ.get("VOXAUG_TEST_SEED")
    if s is None:
        s = os.environ["VOXAUG_TEST_SEED"] = str(int.from_bytes(os.urandom(6), "little"))
    return int(s)


@pytest.fixture
def rng():
    return np.random.default_rng(seed_value())


@pytest.fixture(scope="session")
def ctx():
    return voxaug.Context(os.environ.get("VOXAUG_DEVICE"))


@pytest.fixture(scope="session")
def cli():
    """The `voxaug` command of the same tree: $VOXAUG_CLI, else build/voxaug, else on PATH."""
    for c in (os.environ.get("VOXAUG_CLI"), os.path.join(REPO, "build", "voxaug"), shutil.which("voxaug")):
        if c and os.access(c, os.X_OK):
            return c
    if REQUIRE:
        pytest.fail("no voxaug CLI (set VOXAUG_CLI or build build/voxaug)")
    pytest.skip("no voxaug CLI")


def template(name):
    path = os.path.join(TEMPLATES, name)
    if not os.path.exists(path):
        if REQUIRE:
            pytest.fail(f"{path} is missing (Debian package mricron-data)")
        pytest.skip(f"{path} is missing (mricron-data)")
    return path
