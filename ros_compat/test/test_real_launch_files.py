"""Public launch files (fixtures/real_launch/, sources in its README) run against stub executables over
loopback DDS. The full set and its pass rate are the benchmark `python ros_compat/test/real_launch_files.py`
(table + benchmarks/results/real_launch_files.json); this test runs one file per project and format,
so that each feature family they use (events, lifecycle, frontends, substitutions, scoped ROS settings)
is exercised end to end, and checks that C++ composable nodes fail with the documented message."""

from __future__ import annotations

from pathlib import Path

import pytest
from real_launch_files import _env, fixture_files, make_stub_prefix, run_one

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

SAMPLE = [
    "ros2__demos/demo_nodes_cpp/launch/services/add_two_ints.launch.py",  # OnProcessExit -> Shutdown
    "ros2__demos/demo_nodes_cpp/launch/topics/talker_listener_launch.yaml",
    "ros2__launch_ros/launch_ros/examples/optional_namespace.launch.py",  # PushROSNamespace, ParameterFile
    "ros2__launch_ros/launch_ros/examples/lifecycle_autostart_pub_sub_launch.py",  # LaunchService in main()
    "ros4hri__hri_face_detect/launch/face_detect.launch.py",  # ChangeState + OnStateTransition
    "ros__robot_state_publisher/launch/rsp-launch-xacro-command-subst.xml",  # $(command) $(find-pkg-share)
    "ros-controls__ros2_control_demos/example_1/bringup/launch/rrbot.launch.py",  # Command, FindExecutable
    "ros2__teleop_twist_joy/launch/teleop-launch.py",
]
CPP_COMPOSABLE = "ros2__demos/composition/launch/composition_demo.launch.py"


@pytest.fixture(scope="module")
def stub_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    prefix, bin_dir = make_stub_prefix(tmp_path_factory.mktemp("stubs"), fixture_files())
    return _env(prefix, bin_dir, 0)


def _fixture(name: str) -> Path:
    (path,) = [p for p in fixture_files() if p.as_posix().endswith(name)]
    return path


@pytest.mark.parametrize("name", SAMPLE)
def test_public_launch_file_runs_to_a_clean_exit(
    name: str, stub_env: dict[str, str], ros_domain: int
) -> None:
    result = run_one(_fixture(name), {**stub_env, "ROS_DOMAIN_ID": str(ros_domain)})
    assert result.loads and result.clean_exit, result


def test_cpp_composable_nodes_fail_with_the_documented_message(
    stub_env: dict[str, str], ros_domain: int
) -> None:
    result = run_one(_fixture(CPP_COMPOSABLE), {**stub_env, "ROS_DOMAIN_ID": str(ros_domain)})
    assert result.loads and not result.clean_exit and result.returncode == 1
    assert "composition::Talker" in result.reason and "component_container" in result.reason
    assert "Traceback" not in result.reason
