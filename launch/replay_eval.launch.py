"""Replay evaluation: emotion_node (sim time) + `ddvlm-bag eval` playing a bag into it; ends when the
evaluator is done.

Example:
  ros2 launch ddvlm_ros replay_eval.launch.py bag:=meld_test_bag rate:=20 json:=replay/report.json
  ros2 launch ddvlm_ros replay_eval.launch.py bag:=robot_bag config:=my_emotion.yaml  # jpeg frames:
      my_emotion.yaml = config/emotion.yaml with use_compressed: true
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """emotion.launch.py with use_sim_time + the evaluator, which publishes /clock from the bag."""
    arg = LaunchConfiguration
    emotion = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("ddvlm_ros"), "launch", "emotion.launch.py"])
        ),
        launch_arguments={
            "config": arg("config"),
            "model_dir": arg("model_dir"),
            "backend": arg("backend"),
            "use_sim_time": "true",
            "log_level": arg("log_level"),
        }.items(),
    )
    evaluator = Node(
        package="ddvlm_ros",
        executable="ddvlm-bag",
        name="replay_eval",
        output="screen",
        arguments=[
            "eval",
            arg("bag"),
            "--rate",
            arg("rate"),
            "--json",
            arg("json"),
            "--node-timeout",
            arg("node_timeout"),
        ],
        on_exit=Shutdown(reason="replay evaluation finished"),
    )
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 directory (e.g. from ddvlm-bag from-meld)"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback speed factor"),
            DeclareLaunchArgument(
                "json", default_value="replay_report.json", description="report (confusion PNG next to it)"
            ),
            DeclareLaunchArgument(
                "model_dir", default_value="", description="model directory ('' = default)"
            ),
            DeclareLaunchArgument("backend", default_value="auto", description="inference backend"),
            DeclareLaunchArgument(
                "config",
                default_value=PathJoinSubstitution([FindPackageShare("ddvlm_ros"), "config", "emotion.yaml"]),
                description="emotion_node parameter file (a bag with jpeg frames needs use_compressed: true)",
            ),
            DeclareLaunchArgument("log_level", default_value="warn", description="emotion_node log level"),
            DeclareLaunchArgument(
                "node_timeout", default_value="120", description="seconds to wait for the node to start"
            ),
            emotion,
            evaluator,
        ]
    )
