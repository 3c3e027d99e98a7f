"""ric_runtime.io.exclusive across processes: the second asker waits until the first is done."""

import subprocess
import sys
import time

from ric_runtime.io import exclusive

HOLDER = """
import sys, time
from pathlib import Path
from ric_runtime.io import exclusive
lock, log = Path(sys.argv[1]), Path(sys.argv[2])
with exclusive(lock):
    log.write_text("held\\n")
    time.sleep(1.5)
    log.write_text("held\\nreleased\\n")
"""


def test_a_second_process_waits_for_the_lock(tmp_path):
    lock, log = tmp_path / "models" / "image.lock", tmp_path / "log"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(log)])
    try:
        deadline = time.time() + 60
        while not log.is_file() and time.time() < deadline:
            time.sleep(0.05)
        assert log.read_text() == "held\n"
        with exclusive(lock):  # blocks until the holder's block is done
            assert log.read_text().splitlines() == ["held", "released"]
    finally:
        holder.wait(timeout=60)
    assert holder.returncode == 0
