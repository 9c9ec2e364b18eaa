"""An emulator killed from outside is reaped by the first look that finds it gone.

The make-dev test that kills the Pub/Sub emulator failed CI twice with "ResourceWarning:
subprocess ... is still running": `alive()` reaped the gcloud wrapper, then looked at its
process group; the wrapper died between the two looks, the group counted its zombie as
gone, and its Popen was dropped with no exit status.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local import emulators
from local.emulators import Emulator


def test_a_process_that_dies_between_the_two_looks_is_reaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator = Emulator("pubsub", tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    emulator._proc = proc  # a stand-in for the gcloud wrapper, alone in its group
    group_alive = emulators._group_alive

    def dies_first(pgid: int) -> bool:
        # The kill lands after alive()'s first poll and before it looks at the group.
        proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the process never became a zombie"
            time.sleep(0.01)
        return group_alive(pgid)

    monkeypatch.setattr(emulators, "_group_alive", dies_first)
    try:
        assert emulator.alive() is False
        assert proc.returncode == -signal.SIGKILL  # reaped: no zombie, no warning later
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
