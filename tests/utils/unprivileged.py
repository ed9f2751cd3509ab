"""Commands run without root's power over files, so that file permissions hold for them as for any user.

As root, the command and every process it starts (a local Ray cluster's included) run without the two capabilities
that bypass file permissions, CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: a mode-000 file is unreadable to them, and
everything root owns with owner permissions stays reachable. Other users need nothing dropped. (Switching to
`nobody` instead is not enough: a virtualenv's interpreter may live where only its owner reaches it, such as a pyenv
build under /root, mode 700, and Ray starts its worker processes with that interpreter.)
"""

from __future__ import annotations

import os
from typing import Sequence

from utils.system_binaries import require_binary

FILE_CAPABILITIES = "-dac_override,-dac_read_search"


def without_file_privileges(argv: Sequence[str]) -> list[str]:
    """`argv`, prefixed when we are root so that it, and what it starts, run without bypassing file permissions."""
    if os.geteuid() != 0:
        return list(argv)
    setpriv = require_binary("setpriv", "util-linux")
    # Root's programs get their bounding set at exec, plus their inheritable set: drop them from both.
    return [setpriv, f"--bounding-set={FILE_CAPABILITIES}", f"--inh-caps={FILE_CAPABILITIES}", *argv]
