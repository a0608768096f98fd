"""End-to-end latency of emotion_node: transcript published → EmotionState received, under a camera load.

A real node process, real loopback DDS, a 30 Hz 640×480 stream with a (drawn) face, MELD test-set
utterances (with their dialogue ids, so the node reads dialogue context when config/emotion.yaml's
context_turns asks for it; the bare model reads the same). The bare model (tokenize + text
encoder + fusion, same backend and threads, same texts and frame count) is timed in this process in
the same run, so the ratio node/bare isolates what ROS, alignment and queuing add.

    scripts/with_env python benchmarks/node_latency.py [--utterances 500] [--data ../shared/data/meld]

Writes a table to stdout and benchmarks/results/node_latency.json.
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
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "test"), str(ROOT)]


from test_node_harness import (  # noqa: E402 - test helpers live next to the tests
    LIGHT_ENV,
    NodeProcess,
    Probe,
    image_msg,
    model_dir,
    synthetic_face_frame,
    transcript_msg,
    tree_mb,
)

from conftest import _claim_domain  # noqa: E402 - the repo root is on sys.path below
from ddvlm_msgs.msg import EmotionState  # noqa: E402
from ddvlm_ros.backends import load_backend  # noqa: E402
from ddvlm_ros.preprocessing import TextTokenizer, Turn  # noqa: E402

TARGETS = {"p50_ms": 10.0, "p99_ms": 30.0, "ratio_p50": 1.2, "drops": 0, "rss_growth_pct": 5.0}  # issue 13


def meld_utterances(data: Path, count: int) -> list[tuple[str, str, str]]:
    """(dialogue id, speaker, utterance) from MELD test_sent_emo.csv, in dialogue order."""
    path = data / "test_sent_emo.csv"
    if not path.is_file():
        raise SystemExit(f"MELD annotations not found: {path} (pass --data)")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [
            (f"meld-test-{r['Dialogue_ID']}", r["Speaker"], r["Utterance"]) for r in csv.DictReader(handle)
        ]
    if len(rows) < count:
        rows = (rows * (count // len(rows) + 1))[:count]
    return rows[:count]


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    return {f"p{q}_ms": round(float(np.percentile(arr, q)), 2) for q in (50, 95, 99)} | {
        "mean_ms": round(float(arr.mean()), 2),
        "max_ms": round(float(arr.max()), 2),
    }


def run_camera(namespace: str, hz: float, seconds: float) -> int:
    """Camera driver stand-in (its own process, as on a robot): face frames at hz with current stamps."""
    probe = Probe(namespace=namespace)
    stopped: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: stopped.append(1))  # replaces rclpy's handler: stop cleanly
    frame = synthetic_face_frame(640, 480, face=True)
    sent, next_t, end = 0, time.monotonic(), time.monotonic() + seconds
    try:
        while time.monotonic() < end and not stopped:
            probe.images.publish(image_msg(frame, probe.now_ns()))
            sent += 1
            next_t += 1.0 / hz
            time.sleep(max(0.0, next_t - time.monotonic()))
    finally:
        probe.close()
    print(f"camera frames sent {sent}", flush=True)
    return 0


def run_echo(namespace: str) -> int:
    """The ROS floor: a node that answers each transcript with an EmotionState at once (no model), with
    the emotion node's QoS, subscribed to the camera too (raw, dropped) as its vision process is."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import Image

    from ddvlm_msgs.msg import Transcript
    from ddvlm_ros import node_qos

    rclpy.init(signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    node = rclpy.create_node("emotion_node", namespace=namespace)
    pub = node.create_publisher(EmotionState, "emotion", node_qos.emotion_qos(1000))

    def answer(msg: Transcript) -> None:
        out = EmotionState(utterance_id=msg.utterance_id, conversation_id=msg.conversation_id)
        out.header = msg.header
        pub.publish(out)

    node.create_subscription(Transcript, "transcript", answer, node_qos.transcript_qos())
    node.create_subscription(Image, "image", lambda _: None, node_qos.image_qos(2), raw=True)
    stopped: list[int] = []
    signal.signal(signal.SIGINT, lambda *_: stopped.append(1))
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while not stopped:
        executor.spin_once(timeout_sec=0.1)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


def echo_floor_ms(args, probe: Probe, count: int) -> dict[str, float]:
    """Round trips through run_echo in its own process, camera on: what any Python ROS node adds."""
    cmd = [sys.executable, __file__, "--echo-only", "--namespace", "/bench"]
    echo = subprocess.Popen(cmd, env={**os.environ, **LIGHT_ENV})
    got: dict[str, float] = {}
    sub = probe.node.create_subscription(
        EmotionState, "emotion", lambda m: got.setdefault(m.utterance_id, time.perf_counter()), 1000
    )
    ms: list[float] = []
    try:
        assert probe.spin_until(lambda: sub.get_publisher_count() > 0, 30), "echo node did not come up"
        probe.spin_until(lambda: False, 1.0)
        for i in range(count):
            uid = f"echo{i}"
            now = probe.now_ns()
            sent = time.perf_counter()
            probe.transcripts.publish(transcript_msg("echo", uid, "floor", now, now - 10**9, "A"))
            if probe.spin_until(lambda uid=uid: uid in got, args.timeout):
                ms.append((got[uid] - sent) * 1000.0)
            probe.spin_until(lambda: False, args.gap / 4)
    finally:
        probe.node.destroy_subscription(sub)
        echo.send_signal(signal.SIGINT)
        echo.wait(15)
    return percentiles(ms)


class CameraProcess:
    """This script with --camera-only, as a child process; stopped with SIGINT."""

    def __init__(self, namespace: str, hz: float) -> None:
        cmd = [sys.executable, __file__, "--camera-only", "--namespace", namespace, "--camera-hz", str(hz)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, **LIGHT_ENV})
        self.sent = 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=15)
        for line in out.splitlines():
            if line.startswith("camera frames sent"):
                self.sent = int(line.split()[-1])


def bare_model_ms(
    backend,
    tokenizer: TextTokenizer,
    history: dict,
    conv: str,
    speaker: str,
    text: str,
    frames: int,
    dv: int,
    max_frames: int,
    context_turns: int,
) -> float:
    """Time what the node must do per utterance, without ROS: tokenize, encode text, fuse."""
    start = time.perf_counter()
    ids, mask = tokenizer.encode_dialogue(Turn(speaker, text), history.get(conv, []), context_turns)
    tf, _ = backend.encode_text(ids, mask)
    ff = np.zeros((1, max_frames, dv), np.float32)
    fm = np.zeros((1, max_frames), np.float32)
    fm[0, :frames] = 1.0
    backend.fuse(tf, np.ones((1,), np.float32), ff, fm)
    elapsed = (time.perf_counter() - start) * 1000.0
    history.setdefault(conv, []).append(Turn(speaker, text))
    history[conv] = history[conv][-context_turns:] if context_turns else []
    return elapsed


def one_run(args, utterances, model: Path, backend, tokenizer) -> dict:
    """The ROS floor (echo node), then one node process, one camera, every utterance: node end-to-end and
    bare-model times, pairwise."""
    md = backend.metadata
    floor = None
    if args.echo_round_trips:
        probe = Probe(namespace="/bench")
        camera = CameraProcess("/bench", args.camera_hz)
        try:
            floor = echo_floor_ms(args, probe, args.echo_round_trips)
        finally:
            camera.stop()
            probe.close()
    config = ROOT / "config" / "emotion.yaml"
    # the bare model reads the same dialogue context as the node does with this parameter file
    context_turns = int(yaml.safe_load(config.read_text())["/**"]["ros__parameters"]["context_turns"])
    node = NodeProcess(
        Path("/tmp") / f"node_latency_{os.getpid()}.log",
        {"model_dir": str(model)},
        ["--params-file", str(config), "-r", "__ns:=/bench", "-p", f"model_dir:={model}"],
    )
    probe = Probe(namespace="/bench")
    dv = int(backend.encode_faces(np.zeros((1, 1, 64, 64), np.float32)).shape[-1])
    received: dict[str, tuple[float, EmotionState]] = {}
    probe.node.create_subscription(
        EmotionState, "emotion", lambda m: received.setdefault(m.utterance_id, (time.perf_counter(), m)), 1000
    )
    node_ms: list[float] = []
    bare_ms: list[float] = []
    inference_ms: list[float] = []  # what the node itself reports (text encoder + fusion) per answer
    frames_used: list[int] = []
    drops = 0
    history: dict = {}
    camera: CameraProcess | None = None
    try:
        probe.wait_for_node()
        camera = CameraProcess("/bench", args.camera_hz)
        probe.spin_until(lambda: False, 4.0)  # camera process up, frames in the buffer before utterances
        rss_start = tree_mb(node.proc.pid)
        load_start = os.getloadavg()[0]
        for i, (conv, speaker, text) in enumerate(utterances):
            if i == args.warmup:
                rss_start = tree_mb(node.proc.pid)
            uid = f"u{i}"
            now = probe.now_ns()
            sent = time.perf_counter()
            probe.transcripts.publish(transcript_msg(conv, uid, text, now, now - 1_500_000_000, speaker))
            if not probe.spin_until(lambda uid=uid: uid in received, args.timeout):
                drops += 1 if i >= args.warmup else 0
                continue
            got_at, msg = received[uid]
            used = msg.frames_used if i >= args.warmup else 0
            bare = bare_model_ms(
                backend,
                tokenizer,
                history,
                conv,
                speaker,
                text,
                used,
                dv,
                int(md["max_frames"]),
                context_turns,
            )
            if i >= args.warmup:
                node_ms.append((got_at - sent) * 1000.0)
                frames_used.append(msg.frames_used)
                bare_ms.append(bare)
                inference_ms.append(msg.inference_ms)
            probe.spin_until(lambda: False, args.gap)
        rss_end = tree_mb(node.proc.pid)
        load_end = os.getloadavg()[0]
    finally:
        try:
            if camera is not None:
                camera.stop()
        finally:
            try:
                probe.close()
            finally:
                rc = node.stop()  # never leave a node running (it would answer the next run's transcripts)
    node_stats, bare_stats = percentiles(node_ms), percentiles(bare_ms)
    return {
        "utterances": len(node_ms),
        "drops": drops,
        "camera": {"hz": args.camera_hz, "size": "640x480 bgr8", "frames_sent": camera.sent},
        "node_latency": node_stats,
        "bare_model": bare_stats,
        "node_inference": percentiles(inference_ms),
        # per answer: end-to-end minus the node's own inference time (ROS, queuing, alignment, message)
        "node_overhead": percentiles([n - i for n, i in zip(node_ms, inference_ms, strict=True)]),
        "ros_floor_echo": floor,
        "ratio_p50": round(node_stats["p50_ms"] / bare_stats["p50_ms"], 3),
        "ratio_p99": round(node_stats["p99_ms"] / bare_stats["p99_ms"], 3),
        "visual_used_fraction": round(float(np.mean([f > 0 for f in frames_used])), 3),
        "mean_frames_used": round(float(np.mean(frames_used)), 2),
        "rss_mb": {
            "start": round(rss_start, 1),
            "end": round(rss_end, 1),
            "growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
            "what": "node process + its vision process",
        },
        "node_exit_code": rc,
        "load_avg_1m": {"start": round(load_start, 2), "end": round(load_end, 2)},  # shared machine
    }


def median_of(runs: list[dict], *path: str) -> float:
    values = []
    for run in runs:
        v = run
        for key in path:
            v = v[key]
        values.append(v)
    return round(float(np.median(values)), 3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3, help="node runs; the summary is their median")
    parser.add_argument("--warmup", type=int, default=20, help="utterances before RSS-at-start is taken")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "meld")
    parser.add_argument("--model", type=Path, default=None, help="model dir (default: test harness choice)")
    parser.add_argument("--camera-hz", type=float, default=30.0)
    parser.add_argument("--gap", type=float, default=0.1, help="seconds between utterances")
    parser.add_argument(
        "--timeout", type=float, default=2.0, help="seconds before an answer counts as dropped"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "node_latency.json")
    parser.add_argument(
        "--domain", type=int, default=None, help="ROS_DOMAIN_ID (default: a free one, locked)"
    )
    parser.add_argument(
        "--echo-round-trips",
        type=int,
        default=200,
        help="round trips through a model-free echo node before each node run (0 = skip)",
    )
    parser.add_argument("--camera-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--echo-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--namespace", default="/bench", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.camera_only:
        return run_camera(args.namespace, args.camera_hz, seconds=3600)
    if args.echo_only:
        return run_echo(args.namespace)
    if args.domain is None:
        args.domain, _lock = _claim_domain()  # same locks as the tests' ros_domain fixture
    os.environ["ROS_DOMAIN_ID"] = str(args.domain)
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    model = args.model or model_dir()
    utterances = meld_utterances(args.data, args.utterances + args.warmup)
    backend = load_backend(model, backend="onnxruntime", threads=1)
    md = backend.metadata
    tokenizer = TextTokenizer(model / "tokenizer", max_length=int(md["max_length"]))
    runs = []
    for r in range(args.repeats):
        runs.append(one_run(args, utterances, model, backend, tokenizer))
        n, b = runs[-1]["node_latency"], runs[-1]["bare_model"]
        print(
            f"run {r + 1}/{args.repeats}: node p50 {n['p50_ms']:.2f} p99 {n['p99_ms']:.2f} ms, bare p50 "
            f"{b['p50_ms']:.2f} ms, ratio {runs[-1]['ratio_p50']:.2f}, drops {runs[-1]['drops']}",
            flush=True,
        )
    summary = {
        "node_p50_ms": median_of(runs, "node_latency", "p50_ms"),
        "node_p99_ms": median_of(runs, "node_latency", "p99_ms"),
        "bare_p50_ms": median_of(runs, "bare_model", "p50_ms"),
        "bare_p99_ms": median_of(runs, "bare_model", "p99_ms"),
        "node_inference_p50_ms": median_of(runs, "node_inference", "p50_ms"),
        "node_inference_p99_ms": median_of(runs, "node_inference", "p99_ms"),
        "node_overhead_p50_ms": median_of(runs, "node_overhead", "p50_ms"),
        "node_overhead_p99_ms": median_of(runs, "node_overhead", "p99_ms"),
        **(
            {"ros_floor_echo_p50_ms": median_of(runs, "ros_floor_echo", "p50_ms")}
            if args.echo_round_trips
            else {}
        ),
        "ratio_p50": median_of(runs, "ratio_p50"),
        "ratio_p99": median_of(runs, "ratio_p99"),
        "visual_used_fraction": median_of(runs, "visual_used_fraction"),
        "rss_growth_pct": median_of(runs, "rss_mb", "growth_pct"),
        "drops_total": sum(r["drops"] for r in runs),
    }
    spread = {
        k: [min(v), max(v)]
        for k, v in {
            "node_p50_ms": [r["node_latency"]["p50_ms"] for r in runs],
            "node_p99_ms": [r["node_latency"]["p99_ms"] for r in runs],
            "ratio_p50": [r["ratio_p50"] for r in runs],
        }.items()
    }
    result = {
        "summary": summary,
        "spread_min_max": spread,
        "method": (
            f"{args.repeats} node runs of {args.utterances} MELD test utterances each (after {args.warmup} "
            "warm-up), 30 Hz camera on; the bare model is timed right after each answer in this process "
            "(interleaved pairwise); before each node run, --echo-round-trips through a model-free echo "
            "node (same QoS, camera on) give the floor any Python ROS node adds; summary = median over runs"
        ),
        "runs": runs,
        "model": {
            "dir": str(model),
            "name": md.get("name"),
            "precision": md.get("precision"),
            "random_init": md.get("source", {}).get("checkpoint") is None,
        },
        "host": {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version()},
        "targets": TARGETS,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    result["meets_targets"] = {
        "p50": summary["node_p50_ms"] <= TARGETS["p50_ms"],
        "p99": summary["node_p99_ms"] <= TARGETS["p99_ms"],
        "ratio": summary["ratio_p50"] <= TARGETS["ratio_p50"],
        "drops": summary["drops_total"] == 0,
        "rss": summary["rss_growth_pct"] <= TARGETS["rss_growth_pct"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"| {'median of runs':22} | {'p50 ms':>7} | {'p99 ms':>7} |")
    print(f"|{'-' * 24}|{'-' * 9}|{'-' * 9}|")
    print(f"| {'node (end to end)':22} | {summary['node_p50_ms']:7.2f} | {summary['node_p99_ms']:7.2f} |")
    print(f"| {'bare model':22} | {summary['bare_p50_ms']:7.2f} | {summary['bare_p99_ms']:7.2f} |")
    print(
        f"| {'node inference':22} | {summary['node_inference_p50_ms']:7.2f} | "
        f"{summary['node_inference_p99_ms']:7.2f} |"
    )
    print(
        f"| {'node overhead':22} | {summary['node_overhead_p50_ms']:7.2f} | "
        f"{summary['node_overhead_p99_ms']:7.2f} |"
    )
    if args.echo_round_trips:
        floor = [r["ros_floor_echo"] for r in runs]
        print(
            f"| {'ROS floor (echo node)':22} | {summary['ros_floor_echo_p50_ms']:7.2f} | "
            f"{float(np.median([f['p99_ms'] for f in floor])):7.2f} |"
        )
    print(
        f"ratio p50 {summary['ratio_p50']} (runs {spread['ratio_p50']}), ratio p99 {summary['ratio_p99']}, "
        f"drops {summary['drops_total']}, RSS growth {summary['rss_growth_pct']:+.1f} %, "
        f"visual used {summary['visual_used_fraction']:.0%}"
    )
    print(f"written {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
