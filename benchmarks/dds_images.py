"""Camera frames delivered per second over loopback DDS, with and without config/fastdds_shm.xml.

A publisher process sends bgr8 sensor_msgs/Image at a fixed rate (sensor-data QoS, as camera drivers
do) to a trivial subscriber process (sensor-data QoS, a callback that only counts), for each image
size, each DDS setup, in interleaved repeats (median reported). "default" is the RMW's own setup (Fast
DDS: built-in UDPv4 + shared memory with a 512 KiB segment); "shm" sets FASTRTPS_DEFAULT_PROFILES_FILE
(and FASTDDS_DEFAULT_PROFILES_FILE) to the profile for both processes, as dds_profile:=shm does for
the launched node.

    scripts/with_env nice -n 10 python benchmarks/dds_images.py [--seconds 10] [--rate 30] [--repeats 3]

Writes a table to stdout and benchmarks/results/dds_images.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "config" / "fastdds_shm.xml"
TOPIC = "bench_image"


def setups() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """(publisher, subscriber) environment overrides per DDS setup ('' removes the variable)."""
    profile = {"FASTRTPS_DEFAULT_PROFILES_FILE": str(PROFILE), "FASTDDS_DEFAULT_PROFILES_FILE": str(PROFILE)}
    none = dict.fromkeys(profile, "")
    return {
        "default": (none, none),
        "shm": (profile, profile),
        "shm-camera-only": (profile, none),
        "shm-viewer-only": (none, profile),
    }


def run_publisher(width: int, height: int, rate: float, seconds: float) -> dict:
    """Publish frames at `rate` once a subscriber is matched; frame_id carries the sequence number."""
    import numpy as np
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_camera")
    pub = node.create_publisher(Image, TOPIC, qos_profile_sensor_data)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if pub.get_subscription_count() == 0:
        raise SystemExit("publisher: no subscriber matched within 30 s")
    time.sleep(1.0)  # discovery is not symmetric: let the reader match this writer too
    frame = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    msg = Image(height=height, width=width, encoding="bgr8", step=width * 3)
    msg.data = frame.tobytes()
    period = 1.0 / rate
    count = int(round(seconds * rate))
    start = time.monotonic()
    for seq in range(count):
        target = start + seq * period
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        msg.header.frame_id = str(seq)
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)
    elapsed = time.monotonic() - start
    time.sleep(1.0)  # let the last samples leave before the participant goes away
    node.destroy_node()
    rclpy.shutdown()
    return {"published": count, "publish_seconds": round(elapsed, 3), "publish_hz": round(count / elapsed, 2)}


def run_subscriber(timeout: float) -> dict:
    """Count frames (and their transport latency) until stdin closes (the publisher is done) or timeout."""
    import threading

    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_viewer")
    seqs: set[int] = set()
    latency_ms: list[float] = []
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()

    def on_image(msg: Image) -> None:
        now = node.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        seqs.add(int(msg.header.frame_id))
        latency_ms.append((now - stamp) / 1e6)

    node.create_subscription(Image, TOPIC, on_image, qos_profile_sensor_data)
    print("ready", flush=True)
    end = time.monotonic() + timeout
    while time.monotonic() < end and not stop.is_set():
        rclpy.spin_once(node, timeout_sec=0.1)
    node.destroy_node()
    rclpy.shutdown()
    latency_ms.sort()
    return {
        "received": len(seqs),
        "latency_p50_ms": round(latency_ms[len(latency_ms) // 2], 2) if latency_ms else None,
    }


def child_env(overrides: dict[str, str], domain: int) -> dict[str, str]:
    env = {**os.environ, "ROS_DOMAIN_ID": str(domain), "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    for key, value in overrides.items():
        if value:
            env[key] = value
        else:
            env.pop(key, None)
    return env


def measure(
    width: int, height: int, rate: float, seconds: float, overrides: tuple[dict[str, str], dict[str, str]]
) -> dict:
    """One publisher/subscriber pair in their own processes on a free ROS domain."""
    sys.path.insert(0, str(ROOT))
    from conftest import _claim_domain

    domain, handle = _claim_domain()
    pub_env, sub_env = (child_env(o, domain) for o in overrides)
    me = [sys.executable, str(Path(__file__).resolve())]
    try:
        sub = subprocess.Popen(
            [*me, "--role", "sub", "--seconds", str(seconds)],
            env=sub_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sub.stdout is not None and sub.stdout.readline().strip() == "ready"
        pub = subprocess.run(
            [
                *me,
                "--role",
                "pub",
                "--size",
                f"{width}x{height}",
                "--rate",
                str(rate),
                "--seconds",
                str(seconds),
            ],
            env=pub_env,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
        if pub.returncode != 0:
            sub.kill()
            raise RuntimeError(f"publisher failed: {pub.stderr[-2000:]}")
        time.sleep(2.0)  # samples still in flight
        out, _ = sub.communicate(timeout=30)  # closes its stdin: the subscriber stops counting
    finally:
        handle.close()
    result = json.loads(pub.stdout.strip().splitlines()[-1]) | json.loads(out.strip().splitlines()[-1])
    result["delivered_hz"] = round(result["received"] / result["publish_seconds"], 2)
    result["delivered_pct"] = round(100.0 * result["received"] / result["published"], 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--role", choices=["bench", "pub", "sub"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes", default="640x480,1920x1080,3840x2160", help="comma-separated WIDTHxHEIGHT list"
    )
    parser.add_argument("--size", default="640x480", help=argparse.SUPPRESS)
    parser.add_argument(
        "--setups",
        default="default,shm",
        help=f"comma-separated, from {', '.join(setups())} (profile on both, one or no side)",
    )
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second published")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "dds_images.json")
    args = parser.parse_args()
    if args.role == "pub":
        w, h = (int(v) for v in args.size.split("x"))
        print(json.dumps(run_publisher(w, h, args.rate, args.seconds)))
        return
    if args.role == "sub":
        print(json.dumps(run_subscriber(args.seconds + 45)))
        return

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    runs: dict[str, list[dict]] = {}
    for repeat in range(args.repeats):
        for w, h in sizes:
            for name in args.setups.split(","):
                overrides = setups()[name]
                result = measure(w, h, args.rate, args.seconds, overrides)
                runs.setdefault(f"{w}x{h}/{name}", []).append(result)
                print(f"repeat {repeat + 1} {w}x{h} {name}: {result}", flush=True)
    summary = {}
    for key, results in runs.items():
        summary[key] = {
            "delivered_hz_median": statistics.median(r["delivered_hz"] for r in results),
            "delivered_pct_median": statistics.median(r["delivered_pct"] for r in results),
            "publish_hz_median": statistics.median(r["publish_hz"] for r in results),
            "latency_p50_ms_median": statistics.median(r["latency_p50_ms"] or 0.0 for r in results),
        }
    print(
        f"\n{'size/setup':<22}{'published Hz':>14}{'delivered Hz':>14}{'delivered %':>13}{'latency p50':>13}"
    )
    for key, s in summary.items():
        print(
            f"{key:<22}{s['publish_hz_median']:>14.1f}{s['delivered_hz_median']:>14.1f}"
            f"{s['delivered_pct_median']:>13.1f}{s['latency_p50_ms_median']:>11.1f} ms"
        )
    report = {
        "benchmark": "dds_images",
        "command": "python benchmarks/dds_images.py " + " ".join(sys.argv[1:]),
        "rate_hz": args.rate,
        "seconds": args.seconds,
        "repeats": args.repeats,
        "rmw": os.environ.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp (default)"),
        "profile": str(PROFILE.relative_to(ROOT)),
        "qos": "sensor-data (best effort, keep last 5) on both sides",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()},
        "summary": summary,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
