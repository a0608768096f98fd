"""`ros2 launch` with real processes: a real rclpy node over DDS (name, namespace, parameters file +
dict, remapping), SIGINT/SIGTERM forwarding and escalation, required processes, respawn, timers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_launch_support import REPO, child_env, make_ament_prefix, ros2

pytestmark = pytest.mark.timeout(90)


def _pids(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"process started with pid \[(\d+)\]", output)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "t.launch.py"
    path.write_text(
        "import sys\n"
        "from launch import LaunchDescription\n"
        "from launch.actions import ExecuteProcess, GroupAction, LogInfo, SetEnvironmentVariable\n"
        "from launch.actions import Shutdown, TimerAction\n"
        "PY = sys.executable\n"
        f"def generate_launch_description():\n    return LaunchDescription([{body}])\n"
    )
    return path


def _finish(proc: subprocess.Popen, timeout: float) -> tuple[int, str, float]:
    start = time.monotonic()
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # its children get SIGTERM from PR_SET_PDEATHSIG
        out, _ = proc.communicate()
        pytest.fail(f"launcher did not exit within {timeout}s:\n{out}")
    return proc.returncode, out, time.monotonic() - start


def _listen(proc: subprocess.Popen, topic: str) -> list[str]:
    """Collect std_msgs/String data on `topic` until the first message (30 s at most)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node as RclNode
    from std_msgs.msg import String

    received: list[str] = []
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = RclNode("launch_test_listener", context=context)
        node.create_subscription(String, topic, lambda m: received.append(m.data), 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline and proc.poll() is None:
            executor.spin_once(timeout_sec=0.2)
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    return received


def test_launch_package_importable_from_repo_root() -> None:
    """The repo's launch/ folder (and build/ddvlm_ros/launch) must not shadow the `launch` package
    in the plain environment. Fails while ros_compat is installed with a meta-path editable finder."""
    env = dict(os.environ)
    code = "import launch, launch.actions; print(launch.__file__)"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True)
    expected = str(REPO / "ros_compat" / "launch" / "__init__.py")
    assert out.returncode == 0 and out.stdout.strip() == expected, (
        f"`import launch` from the repo root gives {out.stdout.strip()!r} (a namespace package made of "
        "launch/ folders?). Install ros_compat so that its directory is a sys.path entry (a .pth path, e.g. "
        f"pip install -e ros_compat --config-settings editable_mode=compat). {out.stderr[-1500:]}"
    )


@pytest.mark.dds
def test_node_launch_over_dds_then_sigint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ros_domain: int
) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    proc = ros2(
        "launch",
        "launch_test_pkg",
        "talker.launch.py",
        "namespace:=robot",
        "greeting:=hi there",
        "topic:=/out/talk",
        start_new_session=True,
    )
    try:
        received = _listen(proc, "/out/talk")
        assert proc.poll() is None, proc.communicate()[0]
        # name from name=, namespace from the argument, greeting from the dict (overrides the file),
        # count from the file
        assert received and received[0] == "talker|/robot|hi there|7|int", received[:1]
        proc.send_signal(signal.SIGINT)
        code, out, took = _finish(proc, 15)
    finally:
        if proc.poll() is None:  # a failed assertion above must not leave the launch running
            proc.send_signal(signal.SIGINT)
            _finish(proc, 15)
    assert took < 8, out
    assert code == 0, out
    pids = _pids(out)
    assert len(pids) == 1 and not _alive(pids[0]), out
    assert "param_talker stopping" in out  # the node saw SIGINT and shut down cleanly


def test_required_process_failure_shuts_down_with_nonzero_exit(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ExecuteProcess(cmd=[PY, '-c', 'import time; time.sleep(60)'], output='screen'),"
        "ExecuteProcess(cmd=[PY, '-c', 'import time, sys; time.sleep(0.5); sys.exit(3)'], name='required',"
        " output='screen', on_exit=Shutdown(reason='required process died'))",
    )
    code, out, took = _finish(ros2("launch", str(path), start_new_session=True), 30)
    assert code == 0, out  # upstream: a Shutdown caused by a dying process is a clean launch exit
    assert "exit code 3" in out and "required process died" in out
    assert took < 15
    assert not any(_alive(p) for p in _pids(out)), out


def test_failed_process_is_logged_but_launch_exits_zero(tmp_path: Path) -> None:
    """Upstream LaunchService.run() returns 0 when a child exits non-zero (only launch errors give 1)."""
    path = _write(tmp_path, "ExecuteProcess(cmd=[PY, '-c', 'raise SystemExit(2)'])")
    code, out, _ = _finish(ros2("launch", str(path)), 30)
    assert code == 0 and "process has died" in out and "exit code 2" in out
    path = _write(tmp_path, "ExecuteProcess(cmd=[PY, '-c', 'print(42)'], output='screen')")
    code, out, _ = _finish(ros2("launch", str(path)), 30)
    assert code == 0 and "] 42" in out


def test_sigterm_escalation_for_process_ignoring_sigint(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(60)"
    )
    path = _write(
        tmp_path,
        f"ExecuteProcess(cmd=[PY, '-c', {stubborn!r}], output='screen', sigterm_timeout='1.0')",
    )
    proc = ros2("launch", str(path), start_new_session=True)
    time.sleep(2.5)
    proc.send_signal(signal.SIGTERM)
    code, out, took = _finish(proc, 20)
    assert "escalating to 'SIGTERM'" in out, out
    assert took < 6, out
    assert not any(_alive(p) for p in _pids(out))


def test_respawn_timer_and_shutdown_action(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ExecuteProcess(cmd=[PY, '-c', 'print(\"tick\")'], output='screen', respawn=True, respawn_delay=0.3),"
        "TimerAction(period=2.0, actions=[LogInfo(msg='timer fired'), Shutdown(reason='done')])",
    )
    code, out, took = _finish(ros2("launch", str(path)), 30)
    assert code == 0, out
    assert "timer fired" in out and out.count("] tick") >= 3, out
    assert 1.5 < took < 10


def test_launch_cli_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ament_prefix(tmp_path, monkeypatch)
    code, out, _ = _finish(ros2("launch", "launch_test_pkg", "missing.launch.py"), 30)
    assert code == 1 and "was not found in the share directory" in out
    code, out, _ = _finish(ros2("launch", "launch_test_pkg", "talker.launch.py", "greeting=bad"), 30)
    assert code == 1 and "expected format '<name>:=<value>'" in out
    code, out, _ = _finish(ros2("launch", "launch_test_pkg", "talker.launch.py", "--show-args"), 30)
    assert code == 0 and "'greeting':" in out and "(default: 'hello')" in out


def test_show_args_of_repo_launch_files() -> None:
    """The package's own launch files load with this launch subset and list their arguments."""
    proc = subprocess.run(
        ["ros2", "launch", "ddvlm_ros", "emotion.launch.py", "--show-args"],
        env=child_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "'image_topic':" in proc.stdout and "'config':" in proc.stdout


def test_environment_reaches_processes_and_is_scoped(tmp_path: Path) -> None:
    show = "import os; print('X=' + os.environ.get('LAUNCH_TEST_X', 'unset'))"
    path = _write(
        tmp_path,
        "GroupAction([SetEnvironmentVariable('LAUNCH_TEST_X', 'in-group'),"
        f" TimerAction(period=0.2, actions=[ExecuteProcess(cmd=[PY, '-c', {show!r}], output='screen')])]),"
        f"ExecuteProcess(cmd=[PY, '-c', {show!r}], output='screen')",
    )
    code, out, _ = _finish(ros2("launch", str(path)), 30)
    assert code == 0, out
    assert "] X=in-group" in out and "] X=unset" in out, out
