# SPDX-License-Identifier: MIT
"""For the checks against the peers' own code (TorchIO, MONAI, batchgenerators): import them, or re-run this
script under the peers' venv (bench/setup-peers.sh makes it in <build>/peers-venv, next to the CLI; or
$VOXAUG_PEERS_PYTHON), or exit 77 (ctest's skip) with the reason."""
import os
import sys


def require(cli, *modules):
    try:
        for m in modules:
            __import__(m)
        return
    except ImportError as e:
        missing = str(e)
    py = os.environ.get("VOXAUG_PEERS_PYTHON") or os.path.join(os.path.dirname(os.path.abspath(cli)),
                                                               "peers-venv", "bin", "python")
    if os.path.exists(py) and not os.environ.get("VOXAUG_PEERS_REEXEC"):   # once: the venv's own python
        os.environ["VOXAUG_PEERS_REEXEC"] = "1"
        os.execv(py, [py] + sys.argv)
    print("skip: %s, and no peers' venv at %s (bench/setup-peers.sh makes it)" % (missing, py))
    sys.exit(77)
