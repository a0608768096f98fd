"""Soak and overload run of the launched emotion node over loopback DDS, as a robot team would test it.

`ros2 launch ddvlm_ros emotion.launch.py` in its own process group; a camera process publishing a real
face (matplotlib's grace_hopper.jpg, letterboxed) as bgr8 sensor_msgs/Image; MELD test utterances as
final transcripts from this process (reliable, KEEP_ALL: a publisher that never overwrites, so every
loss is the node's or the transport's). Phases, in order:

  steady         --duration s of --face-hz 640×480 frames + --transcript-hz transcripts (dialogue ids)
  burst          --burst final transcripts published back to back (camera still on)
  conversations  --conversations transcripts, each from a new conversation id, spread over
                 --conversations-seconds (camera still on)
  uhd            --uhd-seconds of 3840×2160 frames + transcripts; then the camera stops and the node's
                 RSS is read again after --recovery-seconds
  ab             (--ab-blocks > 0) the transcript path with and without the 640×480 face stream, in
                 interleaved blocks of --ab-seconds at --ab-transcript-hz; medians of the block p50/p99

For each phase: sent, answered (once), unanswered, the reasons the node counted in /diagnostics
(count.unanswered_* and every lost/dropped counter, as deltas over the phase) and what is left
unexplained; latency (publish → EmotionState received) per minute (p50/p99); face used; frames the node
received vs published; the node's RSS over time (sampled every second from /proc).

    scripts/with_env nice -n 10 python benchmarks/soak.py [--duration 600] [--face-hz 30] [--transcript-hz 1]
        [--burst 500] [--conversations 10000] [--conversations-seconds 60] [--uhd-seconds 60]
        [--dds-profile shm|default] [--data ../shared/data/meld] [--out benchmarks/results/soak.json]

Writes a table to stdout and the JSON to --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "test"), str(ROOT)]


from test_node_harness import (  # noqa: E402
    LIGHT_ENV,
    image_msg,
    model_dir,
    stop_group,
    transcript_msg,
    tree_mb,
)

from conftest import _claim_domain  # noqa: E402

NAMESPACE = "/soak"
FACE = "matplotlib/mpl-data/sample_data/grace_hopper.jpg"
TARGETS = {
    "unexplained_unanswered": 0,
    "rss_growth_pct": 5.0,
    "rss_after_uhd_vs_baseline_pct": 10.0,
    "steady_p99_ms": 40.0,
    "uhd_face_used_pct": 90.0,
}
# Diagnostics counters that explain a transcript without an answer (besides count.unanswered_*).
LOSS_MARKERS = ("unanswered_", "lost", "dropped", "missed", "gap")


def face_image(width: int, height: int) -> np.ndarray:
    """The sample photo of a real face, scaled to the frame height and centred on a grey canvas."""
    import cv2
    import matplotlib

    path = Path(matplotlib.__file__).parent / FACE.split("/", 1)[1]
    face = cv2.imread(str(path))
    if face is None:
        raise SystemExit(f"cannot read the sample face {path}")
    scale = min(height / face.shape[0], width / face.shape[1])
    face = cv2.resize(
        face, (int(face.shape[1] * scale), int(face.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    canvas = np.full((height, width, 3), 110, np.uint8)
    y, x = (height - face.shape[0]) // 2, (width - face.shape[1]) // 2
    canvas[y : y + face.shape[0], x : x + face.shape[1]] = face
    return canvas


# ---- camera: its own process, as on a robot --------------------------------------------------------
def run_camera(width: int, height: int, rate: float) -> int:
    """Publish the face frame at `rate` with current stamps until SIGINT; print the count sent."""
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node("soak_camera", namespace=NAMESPACE)
    pub = node.create_publisher(Image, "image", qos_profile_sensor_data)
    frame = face_image(width, height)
    msg = image_msg(frame, 0)
    sent, next_t = 0, time.monotonic()
    while not stop.is_set():
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
        sent += 1
        next_t += 1.0 / rate
        stop.wait(max(0.0, next_t - time.monotonic()))
    node.destroy_node()
    rclpy.shutdown()
    print(json.dumps({"published": sent}), flush=True)
    return 0


class Camera:
    """This script with --role camera as a child process."""

    def __init__(self, width: int, height: int, rate: float, env: dict[str, str]) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--role", "camera"]
        cmd += ["--camera-size", f"{width}x{height}", "--face-hz", str(rate)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        return int(json.loads(out.strip().splitlines()[-1])["published"])


# ---- the soak driver --------------------------------------------------------------------------------
@dataclass
class Sent:
    phase: str
    at: float  # perf_counter at publish


@dataclass
class Driver:
    """Transcript publisher, EmotionState and /diagnostics subscriber, in their own rclpy context."""

    sent: dict[str, Sent] = field(default_factory=dict)
    answers: dict[str, tuple[float, bool]] = field(default_factory=dict)  # uid -> (perf_counter, face used)
    duplicates: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    diag_values: dict[str, str] = field(default_factory=dict)
    diag_level: int = 0
    diag_message: str = ""

    def __post_init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

        from ddvlm_msgs.msg import EmotionState, Transcript

        self._lock = threading.Lock()
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("soak_driver", namespace=NAMESPACE, context=self.context)
        keep_all = QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
        self.transcripts = self.node.create_publisher(Transcript, "transcript", keep_all)
        self.emotions = self.node.create_subscription(EmotionState, "emotion", self._on_emotion, keep_all)
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_emotion(self, msg) -> None:
        now = time.perf_counter()
        with self._lock:
            if msg.utterance_id in self.answers:
                self.duplicates += 1
            elif msg.utterance_id in self.sent:
                self.answers[msg.utterance_id] = (now, bool(msg.visual_used))

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if "emotion" not in status.name:
                continue  # this domain is the soak's own: only the node publishes here
            values = {kv.key: kv.value for kv in status.values}
            level = status.level
            with self._lock:
                self.diag_values = values
                self.diag_level = level[0] if isinstance(level, bytes) else int(level)
                self.diag_message = status.message
                self.counters = {
                    k[6:]: int(v) for k, v in values.items() if k.startswith("count.") and v.isdigit()
                }

    def matched(self) -> bool:
        return self.transcripts.get_subscription_count() > 0 and self.emotions.get_publisher_count() > 0

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def publish(self, phase: str, uid: str, conversation: str, speaker: str, text: str) -> None:
        now = self.now_ns()
        msg = transcript_msg(conversation, uid, text, now, now - 1_500_000_000, speaker)
        with self._lock:
            self.sent[uid] = Sent(phase, time.perf_counter())
        self.transcripts.publish(msg)

    def snapshot(self) -> dict[str, int]:
        """Counters of the next diagnostics message (published at 1 Hz), so they include what came before."""
        with self._lock:
            before = id(self.diag_values)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            with self._lock:
                if id(self.diag_values) != before:
                    break
            time.sleep(0.05)
        with self._lock:
            return dict(self.counters)

    def settle(self, phase: str, quiet_s: float, limit_s: float) -> None:
        """Until every transcript of the phase is answered, or nothing new came for quiet_s."""
        last_count, last_change, end = -1, time.monotonic(), time.monotonic() + limit_s
        while time.monotonic() < end:
            with self._lock:
                uids = [u for u, s in self.sent.items() if s.phase == phase]
                done = sum(1 for u in uids if u in self.answers)
            if done == len(uids):
                return
            if done != last_count:
                last_count, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > quiet_s:
                return
            time.sleep(0.1)

    def close(self) -> None:
        self._stop.set()
        self._spinner.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        import rclpy

        rclpy.shutdown(context=self.context)


class RssSampler:
    """The node's VmRSS (its process and its vision process) every second, tagged with the phase."""

    def __init__(self, pid_of) -> None:
        self.pid_of = pid_of
        self.phase = "start"
        self.samples: list[tuple[float, float, str]] = []
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            mb = self.now()
            if mb is not None:
                self.samples.append((round(time.monotonic() - self.t0, 1), round(mb, 1), self.phase))

    def now(self, field: str = "VmRSS") -> float | None:
        """VmRSS (MB) of the node and its vision process, or one of its parts: RssAnon (heap), RssFile,
        RssShmem (mapped shared memory, e.g. the camera's Fast DDS segment frames are read from)."""
        pid = self.pid_of()
        return None if pid is None else tree_mb(pid, field)

    def parts(self) -> dict[str, float | None]:
        return {f: self.now(f) for f in ("VmRSS", "RssAnon", "RssFile", "RssShmem")}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def node_pid(launch: subprocess.Popen) -> int | None:
    out = subprocess.run(["pgrep", "-P", str(launch.pid)], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out else None


def meld_utterances(data: Path) -> list[tuple[str, str, str]]:
    """(dialogue id, speaker, utterance) of MELD test_sent_emo.csv, in dialogue order."""
    path = data / "test_sent_emo.csv"
    if not path.is_file():
        raise SystemExit(f"MELD annotations not found: {path} (pass --data)")
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            (f"meld-test-{r['Dialogue_ID']}", r["Speaker"], r["Utterance"]) for r in csv.DictReader(handle)
        ]


def latency_stats(values_ms: list[float]) -> dict[str, float | int | None]:
    if not values_ms:
        return {"n": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    arr = np.asarray(values_ms)
    return {
        "n": int(arr.size),
        "p50_ms": round(float(np.percentile(arr, 50)), 2),
        "p99_ms": round(float(np.percentile(arr, 99)), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def counted_losses(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Deltas of the counters that explain a missing answer."""
    out = {}
    for key, value in after.items():
        if any(m in key for m in LOSS_MARKERS) and not key.startswith(("image", "images")):
            delta = value - before.get(key, 0)
            if delta:
                out[key] = delta
    return out


def phase_report(
    driver: Driver, phase: str, before: dict[str, int], after: dict[str, int], t0: float
) -> dict:
    with driver._lock:
        uids = [u for u, s in driver.sent.items() if s.phase == phase]
        rows = [(driver.sent[u].at, driver.answers.get(u)) for u in uids]
    answered = [(at, a) for at, a in rows if a is not None]
    latencies = [(a[0] - at) * 1000.0 for at, a in answered]
    reasons = counted_losses(before, after)
    unanswered = len(rows) - len(answered)
    per_minute: dict[int, list[float]] = {}
    for (at, _), ms in zip(answered, latencies, strict=True):
        per_minute.setdefault(int((at - t0) // 60), []).append(ms)
    return {
        "sent": len(rows),
        "answered": len(answered),
        "unanswered": unanswered,
        "counted_reasons": reasons,
        "unexplained_unanswered": max(0, unanswered - sum(reasons.values())),
        "face_used": sum(1 for _, a in answered if a[1]),
        "face_used_pct": round(100.0 * sum(1 for _, a in answered if a[1]) / max(1, len(answered)), 1),
        "latency": latency_stats(latencies),
        "latency_per_minute": [{"minute": m, **latency_stats(v)} for m, v in sorted(per_minute.items())],
    }


def brief(phase: dict) -> dict:
    """A phase's figures without the per-minute list, for the progress lines."""
    return {k: v for k, v in phase.items() if k != "latency_per_minute"}


def paced(count: int, seconds: float):
    """Indices 0..count-1, each yielded at its slot of an even spread over `seconds`."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i * seconds / max(1, count) - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield i


def rss_mb_at(sampler: RssSampler) -> float:
    value = sampler.now()
    if value is None:
        raise RuntimeError("emotion node process is gone")
    return round(value, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=600.0, help="steady phase seconds")
    parser.add_argument("--face-hz", type=float, default=30.0, help="camera frames per second")
    parser.add_argument(
        "--transcript-hz", type=float, default=1.0, help="final transcripts per second (steady, uhd)"
    )
    parser.add_argument("--burst", type=int, default=500, help="transcripts in the burst phase (0 = skip)")
    parser.add_argument(
        "--conversations", type=int, default=10000, help="distinct conversation ids (0 = skip)"
    )
    parser.add_argument("--conversations-seconds", type=float, default=60.0)
    parser.add_argument("--uhd-seconds", type=float, default=60.0, help="4K phase seconds (0 = skip)")
    parser.add_argument("--ab-blocks", type=int, default=0, help="faces/no-faces block pairs (0 = skip)")
    parser.add_argument("--ab-seconds", type=float, default=40.0, help="seconds per A/B block")
    parser.add_argument("--ab-transcript-hz", type=float, default=4.0, help="transcripts per second in A/B")
    parser.add_argument("--recovery-seconds", type=float, default=30.0, help="after the 4K stream stops")
    parser.add_argument("--warmup-seconds", type=float, default=20.0, help="before the baseline RSS is read")
    parser.add_argument(
        "--dds-profile",
        default="shm",
        help="dds_profile of the node and the camera: shm (config/fastdds_shm.xml) | default | an XML path",
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "meld")
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: the test harness's)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "soak.json")
    parser.add_argument("--role", choices=["soak", "camera"], default="soak", help=argparse.SUPPRESS)
    parser.add_argument("--camera-size", default="640x480", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "camera":
        w, h = (int(v) for v in args.camera_size.split("x"))
        return run_camera(w, h, args.face_hz)

    domain, _lock = _claim_domain()
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    profile = {"shm": str(ROOT / "config" / "fastdds_shm.xml"), "default": ""}.get(
        args.dds_profile, args.dds_profile
    )
    camera_env = {**os.environ, **LIGHT_ENV}
    for var in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        if profile:
            camera_env[var] = profile
        else:
            camera_env.pop(var, None)
    utterances = meld_utterances(args.data)
    model = args.model or model_dir()
    log_path = Path("/tmp") / f"soak_launch_{os.getpid()}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed at the end
    launch = subprocess.Popen(
        ["ros2", "launch", "ddvlm_ros", "emotion.launch.py", f"namespace:={NAMESPACE}", f"model_dir:={model}"]
        + ([f"dds_profile:={args.dds_profile}"] if args.dds_profile != "default" else []),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **LIGHT_ENV},
        cwd=ROOT,
        start_new_session=True,
    )
    driver = Driver()
    sampler = RssSampler(lambda: node_pid(launch))
    report: dict = {
        "benchmark": "soak",
        "command": "python benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "config": {k: str(v) for k, v in vars(args).items() if k not in ("role", "camera_size")},
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": os.getloadavg(),
        },
        "model": str(model),
        "phases": {},
        "targets": TARGETS,
    }
    camera: Camera | None = None
    u = iter(range(10**9))

    def next_utterance() -> tuple[str, str, str]:
        return utterances[next(u) % len(utterances)]

    try:
        end = time.monotonic() + 90
        while not driver.matched() and time.monotonic() < end:
            if launch.poll() is not None:
                raise SystemExit(f"ros2 launch exited {launch.returncode}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        if not driver.matched():
            raise SystemExit(f"node never matched the soak driver:\n{log_path.read_text()[-3000:]}")
        time.sleep(1.0)

        # ---- steady --------------------------------------------------------------------------------
        camera = Camera(640, 480, args.face_hz, camera_env)
        time.sleep(args.warmup_seconds)
        before = driver.snapshot()
        sampler.phase = "steady"
        rss_start = rss_mb_at(sampler)
        rss_start_parts = sampler.parts()
        t0 = time.perf_counter()
        n = int(args.duration * args.transcript_hz)
        for i in paced(n, args.duration):
            conv, speaker, text = next_utterance()
            driver.publish("steady", f"steady-{i}", conv, speaker, text)
        driver.settle("steady", quiet_s=10, limit_s=60)
        after = driver.snapshot()
        rss_end = rss_mb_at(sampler)
        steady = phase_report(driver, "steady", before, after, t0)
        steady["rss_parts_mb_start"] = rss_start_parts
        steady["rss_mb"] = {
            "start": rss_start,
            "end": rss_end,
            "growth_pct": round(100 * (rss_end / rss_start - 1), 2),
        }
        steady["node_images_received"] = after.get("images_received", 0) - before.get("images_received", 0)
        steady["node_images_analysed"] = after.get("images_analysed", 0) - before.get("images_analysed", 0)
        steady["seconds"] = round(time.perf_counter() - t0, 1)
        report["phases"]["steady"] = steady
        print(
            f"steady: {json.dumps(brief(steady))}",
            flush=True,
        )

        # ---- burst ---------------------------------------------------------------------------------
        if args.burst:
            sampler.phase = "burst"
            before = driver.snapshot()
            t0 = time.perf_counter()
            for i in range(args.burst):
                conv, speaker, text = next_utterance()
                driver.publish("burst", f"burst-{i}", conv, speaker, text)
            burst_publish_s = time.perf_counter() - t0
            driver.settle("burst", quiet_s=15, limit_s=300)
            burst = phase_report(driver, "burst", before, driver.snapshot(), t0)
            burst["publish_seconds"] = round(burst_publish_s, 2)
            burst["seconds"] = round(time.perf_counter() - t0, 1)
            report["phases"]["burst"] = burst
            print(
                f"burst: {json.dumps(brief(burst))}",
                flush=True,
            )

        # ---- conversations -------------------------------------------------------------------------
        if args.conversations:
            sampler.phase = "conversations"
            before = driver.snapshot()
            rss_before = rss_mb_at(sampler)
            t0 = time.perf_counter()
            for i in paced(args.conversations, args.conversations_seconds):
                _, speaker, text = next_utterance()
                driver.publish("conversations", f"conv-{i}", f"soak-conversation-{i}", speaker, text)
            publish_s = time.perf_counter() - t0
            driver.settle("conversations", quiet_s=15, limit_s=900)
            after = driver.snapshot()
            conv_report = phase_report(driver, "conversations", before, after, t0)
            conv_report["publish_seconds"] = round(publish_s, 1)
            conv_report["seconds"] = round(time.perf_counter() - t0, 1)
            rss_after = rss_mb_at(sampler)
            conv_report["rss_mb"] = {
                "before": rss_before,
                "after": rss_after,
                "growth_pct": round(100 * (rss_after / rss_before - 1), 2),
            }
            conv_report["node_conversations_kept"] = driver.diag_values.get("conversations")
            report["phases"]["conversations"] = conv_report
            print(f"conversations: {json.dumps(brief(conv_report))}", flush=True)
        published_640 = camera.stop()
        camera = None
        report["phases"]["steady"]["camera_frames_published_all_640x480_phases"] = published_640

        # ---- 4K ------------------------------------------------------------------------------------
        if args.uhd_seconds:
            time.sleep(5.0)
            rss_before = rss_mb_at(sampler)
            sampler.phase = "uhd"
            before = driver.snapshot()
            camera = Camera(3840, 2160, args.face_hz, camera_env)
            time.sleep(3.0)
            t0 = time.perf_counter()
            n = int(args.uhd_seconds * args.transcript_hz)
            for i in paced(n, args.uhd_seconds):
                conv, speaker, text = next_utterance()
                driver.publish("uhd", f"uhd-{i}", conv, speaker, text)
            driver.settle("uhd", quiet_s=10, limit_s=60)
            after = driver.snapshot()
            rss_peak = max((mb for _, mb, p in sampler.samples if p == "uhd"), default=None)
            uhd_published = camera.stop()
            camera = None
            uhd = phase_report(driver, "uhd", before, after, t0)
            uhd["camera_frames_published"] = uhd_published
            uhd["node_images_received"] = after.get("images_received", 0) - before.get("images_received", 0)
            uhd["node_images_analysed"] = after.get("images_analysed", 0) - before.get("images_analysed", 0)
            uhd["diagnostics_level_during"] = driver.diag_level
            uhd["diagnostics_message_during"] = driver.diag_message
            sampler.phase = "recovery"
            time.sleep(args.recovery_seconds)
            rss_after = rss_mb_at(sampler)
            uhd["rss_parts_mb_after_recovery"] = sampler.parts()
            uhd["rss_mb"] = {
                "before": rss_before,
                "peak": rss_peak,
                "after_recovery": rss_after,
                "baseline_steady_start": report["phases"]["steady"]["rss_mb"]["start"],
                "after_vs_baseline_pct": round(
                    100 * (rss_after / report["phases"]["steady"]["rss_mb"]["start"] - 1), 2
                ),
            }
            report["phases"]["uhd"] = uhd
            print(f"uhd: {json.dumps(brief(uhd))}", flush=True)
        if args.ab_blocks:
            report["phases"]["ab"] = run_ab(args, driver, sampler, camera_env, next_utterance)
            print(f"ab: {json.dumps(report['phases']['ab'])}", flush=True)
        report["duplicates"] = driver.duplicates
        report["diagnostics_final"] = {"level": driver.diag_level, "message": driver.diag_message}
        report["counters_final"] = driver.snapshot()
    finally:
        try:
            if camera is not None:
                camera.stop()
            sampler.stop()
            driver.close()
        finally:  # never leave the launched node running, whatever failed above
            stop_group(launch)
            log.close()
    report["machine"]["load_avg_end"] = os.getloadavg()
    report["rss_series"] = sampler.samples[::5]
    report["summary"] = summarize(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"wrote {args.out} (launch log {log_path})")
    return 0


def run_ab(args, driver: Driver, sampler: RssSampler, camera_env: dict[str, str], next_utterance) -> dict:
    """Transcript latency with the face stream on and off, in interleaved blocks on the same node."""
    import statistics

    blocks: dict[str, list[dict]] = {"faces": [], "no_faces": []}
    for k in range(args.ab_blocks):
        for condition in blocks:
            camera = Camera(640, 480, args.face_hz, camera_env) if condition == "faces" else None
            time.sleep(3.0)  # camera up and analysed frames in the buffer (or the stream gone)
            phase = f"ab-{condition}-{k}"
            sampler.phase = phase
            for i in paced(int(args.ab_seconds * args.ab_transcript_hz), args.ab_seconds):
                conv, speaker, text = next_utterance()
                driver.publish(phase, f"{phase}-{i}", conv, speaker, text)
            driver.settle(phase, quiet_s=10, limit_s=60)
            if camera is not None:
                camera.stop()
            report = phase_report(driver, phase, {}, {}, time.perf_counter())
            blocks[condition].append(
                {"answered": report["answered"], "sent": report["sent"], **report["latency"]}
            )
    out: dict = {"blocks": blocks}
    for condition, rows in blocks.items():
        for q in ("p50_ms", "p99_ms"):
            values = [r[q] for r in rows if r[q] is not None]
            out[f"{condition}_{q}_median"] = round(statistics.median(values), 2) if values else None
    if out["faces_p99_ms_median"] and out["no_faces_p99_ms_median"]:
        out["p99_ratio_faces_vs_not"] = round(out["faces_p99_ms_median"] / out["no_faces_p99_ms_median"], 2)
    return out


def summarize(report: dict) -> dict:
    """The figures the targets are about, with pass/fail."""
    phases = report["phases"]
    steady = phases.get("steady", {})
    minutes = [m["p99_ms"] for m in steady.get("latency_per_minute", []) if m["p99_ms"] is not None]
    summary = {
        "unexplained_unanswered": {k: v["unexplained_unanswered"] for k, v in phases.items() if k != "ab"},
        "answered": {k: f"{v['answered']}/{v['sent']}" for k, v in phases.items() if k != "ab"},
        "steady_p50_ms": steady.get("latency", {}).get("p50_ms"),
        "steady_p99_ms": steady.get("latency", {}).get("p99_ms"),
        "steady_worst_minute_p99_ms": max(minutes) if minutes else None,
        "rss_growth_pct": steady.get("rss_mb", {}).get("growth_pct"),
        "frames_delivered_to_node": steady.get("node_images_received"),
        "duplicates": report.get("duplicates"),
    }
    if "ab" in phases:
        summary["ab_p99_faces_ms"] = phases["ab"]["faces_p99_ms_median"]
        summary["ab_p99_no_faces_ms"] = phases["ab"]["no_faces_p99_ms_median"]
    if "uhd" in phases:
        summary["uhd_face_used_pct"] = phases["uhd"]["face_used_pct"]
        summary["rss_after_uhd_vs_baseline_pct"] = phases["uhd"]["rss_mb"]["after_vs_baseline_pct"]
    checks = {
        "unexplained_unanswered": all(v == 0 for v in summary["unexplained_unanswered"].values()),
        "rss_growth_pct": summary["rss_growth_pct"] is not None
        and summary["rss_growth_pct"] <= TARGETS["rss_growth_pct"],
        "steady_p99_ms": summary["steady_p99_ms"] is not None
        and summary["steady_p99_ms"] <= TARGETS["steady_p99_ms"],
    }
    if "uhd" in phases:
        checks["uhd_face_used_pct"] = summary["uhd_face_used_pct"] >= TARGETS["uhd_face_used_pct"]
        checks["rss_after_uhd_vs_baseline_pct"] = (
            summary["rss_after_uhd_vs_baseline_pct"] <= TARGETS["rss_after_uhd_vs_baseline_pct"]
        )
    summary["pass"] = checks
    return summary


def print_table(report: dict) -> None:
    head = ("phase", "sent", "answered", "counted", "unexpl.", "face %", "p50 ms", "p99 ms")
    print("\n" + f"{head[0]:<15}" + "".join(f"{h:>10}" for h in head[1:]))
    for name, p in report["phases"].items():
        if name == "ab":
            continue
        lat = p["latency"]
        row = (p["sent"], p["answered"], sum(p["counted_reasons"].values()), p["unexplained_unanswered"])
        row += (p["face_used_pct"], lat["p50_ms"], lat["p99_ms"])
        print(f"{name:<15}" + "".join(f"{'n/a' if v is None else v:>10}" for v in row))
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    sys.exit(main())
