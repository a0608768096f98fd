"""Shared helpers for the emotion-node tests and benchmark: model dir, node process, probe node, media.

Real parts only: the model directory is a real export (ddvlm-export --random-init when the default
model is absent), the node is a real process over loopback DDS, faces are drawn so that OpenCV's
Haar cascade really detects them.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from ddvlm_msgs.msg import EmotionState, Transcript

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = ROOT / "models" / "ddvlm-meld-v3"
TEST_MODEL = ROOT / "build" / "node_test_model" / "random-woq"
MELD = ROOT.parent / "shared" / "data" / "meld"  # the MELD annotations (CSV) beside the checkout
LIGHT_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def model_dir() -> Path:
    """$DDVLM_MODEL_DIR, else the default model, else a random-init WOQ export made once under build/."""
    env = os.environ.get("DDVLM_MODEL_DIR")
    if env:
        return Path(env)
    if (DEFAULT_MODEL / "metadata.json").is_file():
        return DEFAULT_MODEL
    TEST_MODEL.parent.mkdir(parents=True, exist_ok=True)
    with open(TEST_MODEL.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (TEST_MODEL / "metadata.json").is_file():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "ddvlm_ros.training.export",
                    "--random-init",
                    "--out",
                    str(TEST_MODEL),
                    "--threads",
                    "1",
                ],
                check=True,
                env={**os.environ, **LIGHT_ENV},
                stdout=subprocess.DEVNULL,
                timeout=600,
            )
    return TEST_MODEL


class NodeProcess:
    """`python -m ddvlm_ros.emotion_node` as a child process, stopped with SIGINT like Ctrl-C."""

    def __init__(self, log_path: Path, params: dict[str, object], extra: list[str] | None = None) -> None:
        args = [sys.executable, "-m", "ddvlm_ros.emotion_node", "--ros-args"]
        for key, value in params.items():
            args += ["-p", f"{key}:={str(value).lower() if isinstance(value, bool) else value}"]
        args += extra or []
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            args, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **LIGHT_ENV}, cwd=ROOT
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGINT, wait; SIGKILL only if it does not stop (and then the test should fail)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self._log.close()
                raise AssertionError(f"node did not stop on SIGINT within {timeout} s") from None
        self._log.close()
        return self.proc.returncode


def node_for(
    probe: Probe, log_path: Path, params: dict[str, object], namespace: str, timeout: float = 60.0
) -> Iterator[NodeProcess]:
    """A node in `namespace`, yielded once the probe sees it up; it must exit 0 on SIGINT (fixture body)."""
    proc = NodeProcess(log_path, params, ["-r", f"__ns:={namespace}"])
    try:
        probe.wait_for_node(timeout)
        yield proc
    finally:
        rc = proc.stop()
        assert rc == 0, f"node exited with {rc} on SIGINT:\n{proc.log()[-3000:]}"


def probe_in(namespace: str) -> Iterator[Probe]:
    """A Probe in `namespace`, closed afterwards (fixture body)."""
    probe = Probe(namespace=namespace)
    yield probe
    probe.close()


def stop_group(proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """SIGINT to the process group (a launch and its nodes), wait; SIGKILL the group if it does not stop."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# Memory of a process together with its descendants (emotion_node and its vision process), from /proc.
def process_tree(pid: int) -> list[int]:
    """pid and every live descendant of it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo += children.get(p, [])
    return tree


def status_mb(pid: int, field: str = "VmRSS") -> float | None:
    """One /proc/<pid>/status memory field in MiB (None when the process or the field is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def tree_mb(pid: int, field: str = "VmRSS") -> float | None:
    """field summed over pid and its descendants; None when pid itself is gone."""
    values = [status_mb(p, field) for p in process_tree(pid)]
    if not values or values[0] is None:
        return None
    return sum(v for v in values if v is not None)


class Probe:
    """A test-side rclpy node in its own context: publishes inputs, collects EmotionState."""

    def __init__(self, namespace: str = "") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("probe", namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.emotions: list[EmotionState] = []
        self.emotion_sub = self.node.create_subscription(EmotionState, "emotion", self.emotions.append, 100)
        self.images = self.node.create_publisher(Image, "image", qos_profile_sensor_data)
        self.transcripts = self.node.create_publisher(Transcript, "transcript", 100)
        self._clients: dict[str, object] = {}

    def spin_until(self, done: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if done():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return done()

    def wait_for_node(self, timeout: float = 30.0) -> None:
        """Until the node's subscriptions and publisher are matched (it has finished starting)."""
        ok = self.spin_until(
            lambda: (
                self.images.get_subscription_count() > 0
                and self.transcripts.get_subscription_count() > 0
                and self.emotion_sub.get_publisher_count() > 0
            ),
            timeout,
        )
        assert ok, "emotion_node did not come up (no subscriber on image/transcript)"
        # Discovery is not symmetric: the node may not have matched our publishers yet, and best-effort
        # images sent before that are lost. Let it settle.
        self.spin_until(lambda: False, 0.5)

    def call(self, srv_type: type, service: str, request: object, timeout: float = 10.0):
        """One service call from the probe: waits for the service and for its answer (asserting both)."""
        client = self._clients.get(service)
        if client is None:
            client = self._clients[service] = self.node.create_client(srv_type, service)
        assert self.spin_until(client.service_is_ready, timeout), f"{service} not available"
        future = client.call_async(request)
        assert self.spin_until(future.done, timeout), f"{service} did not answer"
        return future.result()

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


class Diagnostics:
    """The node's latest /diagnostics status (level, message, every key/value, count.* as ints)."""

    def __init__(self, probe: Probe) -> None:
        self.level, self.message, self.counts, self.updates = 0, "", {}, 0
        self.values: dict[str, str] = {}
        probe.node.create_subscription(DiagnosticArray, "/diagnostics", self._on, 10)

    def _on(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "emotion" in status.name:
                values = {kv.key: kv.value for kv in status.values}
                self.values = values
                self.level = status.level[0] if isinstance(status.level, bytes) else int(status.level)
                self.message = status.message
                self.counts = {k[6:]: int(v) for k, v in values.items() if k.startswith("count.")}
                self.updates += 1


def synthetic_face_frame(width: int = 640, height: int = 480, face: bool = True, seed: int = 0) -> np.ndarray:
    """A BGR frame on a noisy background; with face=True a real face photo (matplotlib's grace_hopper.jpg)
    at its centre, a third of the frame high, which both face detectors (MTCNN, Haar) find."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width, 3), 90, np.uint8)
    img += rng.integers(0, 6, img.shape, dtype=np.uint8)
    if face:
        photo = _grace_hopper()
        fh = max(48, int(height * 0.6))
        fw = max(40, int(fh * photo.shape[1] / photo.shape[0]))
        fh, fw = min(fh, height), min(fw, width)
        y, x = (height - fh) // 2, (width - fw) // 2
        img[y : y + fh, x : x + fw] = cv2.resize(photo, (fw, fh), interpolation=cv2.INTER_AREA)
    return img


def _grace_hopper() -> np.ndarray:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    photo = cv2.imread(str(path))
    assert photo is not None, path
    return photo


def image_msg(frame: np.ndarray, stamp_ns: int, encoding: str = "bgr8") -> Image:
    msg = Image(height=frame.shape[0], width=frame.shape[1], encoding=encoding, step=frame.shape[1] * 3)
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 1_000_000_000)
    msg.header.frame_id = "camera"
    msg.data = frame.tobytes()
    return msg


def transcript_msg(
    conversation: str,
    utterance: str,
    text: str,
    end_ns: int,
    start_ns: int = 0,
    speaker: str = "Rachel",
    final: bool = True,
) -> Transcript:
    msg = Transcript(
        conversation_id=conversation,
        utterance_id=utterance,
        speaker=speaker,
        text=text,
        is_final=final,
        confidence=0.9,
    )
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(end_ns, 1_000_000_000)
    msg.start_stamp.sec, msg.start_stamp.nanosec = divmod(start_ns, 1_000_000_000)
    return msg
