"""Launch's own log lines, formatted like upstream (`[INFO] [launch]: ...`), plus the log directory."""

from __future__ import annotations

import datetime
import os
import socket
import sys
import threading
from pathlib import Path
from typing import TextIO

_LOCK = threading.Lock()
_LOG_DIR: Path | None = None


def write_line(stream: TextIO, line: str) -> None:
    """Write one line atomically w.r.t. the output reader threads."""
    with _LOCK:
        stream.write(line if line.endswith("\n") else line + "\n")
        stream.flush()


def log(level: str, logger: str, message: str) -> None:
    """Print `[LEVEL] [logger]: message` like upstream's screen handler (errors to stderr)."""
    stream = sys.stderr if level in ("ERROR", "WARNING", "FATAL") else sys.stdout
    write_line(stream, f"[{level}] [{logger}]: {message}")


def get_log_dir() -> Path:
    """$ROS_LOG_DIR, else $ROS_HOME/log, else ~/.ros/log, plus one directory per launch (as upstream)."""
    global _LOG_DIR
    if _LOG_DIR is None:
        base = os.environ.get("ROS_LOG_DIR") or os.path.join(
            os.environ.get("ROS_HOME", os.path.expanduser("~/.ros")), "log"
        )
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S-%f")
        _LOG_DIR = Path(base) / f"{stamp}-{socket.gethostname()}-{os.getpid()}"
        _LOG_DIR.mkdir(parents=True, exist_ok=True)
    return _LOG_DIR
