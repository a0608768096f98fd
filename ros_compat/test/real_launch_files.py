"""Run the public launch files under fixtures/real_launch/ against stub executables and report which
load (`ros2 launch --show-args` succeeds) and which run to a clean exit.

Stubs: every package a fixture names gets an ament-index entry and every executable named in any
fixture, each a small rclpy *lifecycle* node (so ChangeState/OnStateTransition work against it) that
uses the --ros-args it was given (name, namespace, parameter files, remappings) and exits 0 after a
few seconds (later once a lifecycle transition started: active + 1 s). `xacro` is a stub that prints
the file it is given. Files under support/ (placeholder URDFs) go into the stub packages' share dirs.

Clean exit: `ros2 launch` (or `python file` for files that run their own LaunchService from main())
exits 0 within the time limit, no launched process died, and no [ERROR] / Traceback was printed. A
launch still running after RUN_LIMIT_S gets SIGINT (as a user would press ^C) and is judged the same.

As a script: prints a table and writes benchmarks/results/real_launch_files.json.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
FIXTURES = HERE / "fixtures" / "real_launch"
SUPPORT = FIXTURES / "support"
ROS_COMPAT = HERE.parent
REPO = ROS_COMPAT.parent
RUN_LIMIT_S = 30.0

STUB_NODE = r"""
import os, re, sys, time


def run():
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    base_s, max_s = 3.0, 15.0
    state = {"transition_at": None, "active_at": None}

    class Stub(LifecycleNode):
        def on_configure(self, previous):
            state["transition_at"] = time.monotonic()
            return TransitionCallbackReturn.SUCCESS

        def on_activate(self, previous):
            state["active_at"] = time.monotonic()
            return super().on_activate(previous)

    rclpy.init(args=sys.argv)
    node = Stub(re.sub(r"\W", "_", os.path.basename(sys.argv[0])) or "stub")
    args = rclpy.utilities.remove_ros_args(sys.argv)[1:]
    print(f"stub {node.get_fully_qualified_name()} up, args {args}", flush=True)
    start = time.monotonic()
    try:
        while rclpy.ok():
            now = time.monotonic()
            if state["active_at"] is not None and now - state["active_at"] > 1.0:
                break
            if state["transition_at"] is None and now - start > base_s:
                break
            if now - start > max_s:
                break
            rclpy.spin_once(node, timeout_sec=0.05)
    except ExternalShutdownException:
        pass
    print(f"stub {node.get_name()} done", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


import signal

try:
    run()
except KeyboardInterrupt:  # ^C while still starting up: a well-behaved node exits cleanly too
    pass
signal.signal(signal.SIGINT, signal.SIG_IGN)  # done: a ^C arriving while the interpreter exits is moot
"""

STUB_XACRO = "import sys\nprint(open(sys.argv[1]).read())\n"

_PACKAGE_PATTERNS = [
    r"""package\s*=\s*['"]([\w]+)['"]""",
    r"""pkg\s*=\s*['"]([\w]+)['"]""",
    r"""pkg:\s*['"]?([\w]+)""",
    r"""FindPackageShare\(\s*['"]([\w]+)['"]""",
    r"""get_package_share_directory\(\s*['"]([\w]+)['"]""",
    r"""find-pkg-share\s+([\w]+)""",
]
_EXECUTABLE_PATTERNS = [
    r"""executable\s*=\s*['"]([\w.\-]+)['"]""",
    r"""exec\s*=\s*['"]([\w.\-]+)['"]""",
    r"""exec:\s*['"]?([\w.\-]+)""",
]


@dataclass
class Result:
    file: str
    format: str
    loads: bool
    clean_exit: bool
    returncode: int | None
    interrupted: bool
    seconds: float
    reason: str


def fixture_files() -> list[Path]:
    """Launch files (not the support data, not parameter YAML) in a stable order."""
    files = []
    for path in sorted(FIXTURES.rglob("*")):
        if not path.is_file() or SUPPORT in path.parents or path.name == "README.md":
            continue
        if path.suffix == ".py" or (path.suffix in (".xml", ".yaml") and "launch" in path.name):
            files.append(path)
    return files


def _names(patterns: list[str], texts: list[str]) -> set[str]:
    return {m for pattern in patterns for text in texts for m in re.findall(pattern, text)}


def make_stub_prefix(root: Path, files: list[Path]) -> tuple[Path, Path]:
    """An ament prefix with every package the fixtures name, each holding every executable."""
    texts = [f.read_text(encoding="utf-8") for f in files]
    packages = _names(_PACKAGE_PATTERNS, texts) | {p.name for p in SUPPORT.iterdir()}
    executables = _names(_EXECUTABLE_PATTERNS, texts) | {"data_publisher"}
    prefix = root / "stub_prefix"
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    for package in sorted(packages):
        (index / package).write_text("")
        lib = prefix / "lib" / package
        lib.mkdir(parents=True, exist_ok=True)
        for executable in executables:
            stub = lib / executable
            stub.write_text(f"#!{sys.executable}\n{STUB_NODE}")
            stub.chmod(0o755)
        share = prefix / "share" / package
        share.mkdir(parents=True, exist_ok=True)
        support = SUPPORT / package
        if support.is_dir():
            for item in support.rglob("*"):
                if item.is_file():
                    target = share / item.relative_to(support)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(item.read_bytes())
    bin_dir = root / "stub_bin"
    bin_dir.mkdir(exist_ok=True)
    xacro = bin_dir / "xacro"
    xacro.write_text(f"#!{sys.executable}\n{STUB_XACRO}")
    xacro.chmod(0o755)
    return prefix, bin_dir


def _env(prefix: Path, bin_dir: Path, domain: int) -> dict[str, str]:
    env = dict(os.environ)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join(filter(None, [str(prefix), env.get("AMENT_PREFIX_PATH")]))
    env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROS_COMPAT), env.get("PYTHONPATH")]))
    env["ROS_DOMAIN_ID"] = str(domain)
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    env["PYTHONUNBUFFERED"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _is_script(path: Path, text: str) -> bool:
    return path.suffix == ".py" and "generate_launch_description" not in text and "__main__" in text


def _first_problem(output: str, returncode: int | None) -> str:
    for marker in ("Traceback", "[ERROR]", "process has died"):
        for line in output.splitlines():
            if marker in line:
                return line.strip()[:300]
    return "" if returncode == 0 else f"exit code {returncode}"


def run_one(path: Path, env: dict[str, str]) -> Result:
    text = path.read_text(encoding="utf-8")
    fmt = path.suffix.lstrip(".")
    script = _is_script(path, text)
    cwd = str(REPO)
    if script:
        loads = True  # such files build and run their description in main(); judged by the run
    else:
        shown = subprocess.run(
            ["ros2", "launch", "-s", str(path)], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
        )
        loads = shown.returncode == 0
    cmd = [sys.executable, str(path)] if script else ["ros2", "launch", str(path)]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    interrupted = False
    try:
        output, _ = proc.communicate(timeout=RUN_LIMIT_S)
    except subprocess.TimeoutExpired:
        interrupted = True
        os.killpg(proc.pid, signal.SIGINT)
        try:
            output, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
    seconds = time.monotonic() - start
    problem = _first_problem(output, proc.returncode)
    clean = loads and proc.returncode == 0 and not problem
    if not loads and not problem:
        problem = (shown.stderr or shown.stdout).strip().splitlines()[-1][:300]
    return Result(
        file=str(path.relative_to(FIXTURES)),
        format=fmt,
        loads=loads,
        clean_exit=clean,
        returncode=proc.returncode,
        interrupted=interrupted,
        seconds=round(seconds, 1),
        reason=problem,
    )


def run_all(work_dir: Path, domain: int) -> list[Result]:
    files = fixture_files()
    prefix, bin_dir = make_stub_prefix(work_dir, files)
    env = _env(prefix, bin_dir, domain)
    return [run_one(path, env) for path in files]


def summary(results: list[Result]) -> dict[str, object]:
    total = len(results)
    by_format: dict[str, dict[str, int]] = {}
    for r in results:
        entry = by_format.setdefault(r.format, {"files": 0, "load": 0, "clean": 0})
        entry["files"] += 1
        entry["load"] += r.loads
        entry["clean"] += r.clean_exit
    return {
        "files": total,
        "load": sum(r.loads for r in results),
        "clean_exit": sum(r.clean_exit for r in results),
        "clean_exit_rate": round(sum(r.clean_exit for r in results) / total, 3) if total else 0.0,
        "by_format": by_format,
    }


def main() -> int:
    import tempfile

    domain = int(os.environ.get("ROS_DOMAIN_ID", "57"))
    with tempfile.TemporaryDirectory(prefix="real_launch_") as tmp:
        results = run_all(Path(tmp), domain)
    print(f"{'file':<92} {'load':>4} {'clean':>5} {'rc':>4} {'s':>5}  reason")
    for r in results:
        print(
            f"{r.file:<92} {'yes' if r.loads else 'no':>4} {'yes' if r.clean_exit else 'no':>5} "
            f"{str(r.returncode):>4} {r.seconds:>5}  {r.reason}"
        )
    totals = summary(results)
    print(
        f"\nload {totals['load']}/{totals['files']}, clean exit {totals['clean_exit']}/{totals['files']} "
        f"({100 * totals['clean_exit_rate']:.0f} %)  by format: {totals['by_format']}"
    )
    out = REPO / "benchmarks" / "results" / "real_launch_files.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": totals, "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
