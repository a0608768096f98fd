"""Demo: replay a recorded bag (images + transcripts) into emotion_node and print its answers.

Example: ros2 launch ddvlm_ros demo.launch.py bag:=/path/to/meld_sample_bag
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """emotion.launch.py with sim time + `ros2 bag play --clock` + `ros2 topic echo emotion`."""
    arg = LaunchConfiguration
    emotion = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("ddvlm_ros"), "launch", "emotion.launch.py"])
        ),
        launch_arguments={
            "image_topic": arg("image_topic"),
            "transcript_topic": arg("transcript_topic"),
            "model_dir": arg("model_dir"),
            "use_sim_time": "true",
        }.items(),
    )
    play = ExecuteProcess(
        cmd=["ros2", "bag", "play", arg("bag"), "--clock", "--rate", arg("rate"), "--delay", arg("delay")],
        output="screen",
    )
    echo = ExecuteProcess(cmd=["ros2", "topic", "echo", "emotion"], output="screen")
    return LaunchDescription(
        [
            DeclareLaunchArgument("bag", description="rosbag2 directory with image and transcript topics"),
            DeclareLaunchArgument("rate", default_value="1.0", description="playback speed"),
            DeclareLaunchArgument(
                "delay", default_value="5.0", description="seconds before playing (the node loads its model)"
            ),
            DeclareLaunchArgument("image_topic", default_value="image", description="image topic in the bag"),
            DeclareLaunchArgument(
                "transcript_topic", default_value="transcript", description="transcript topic in the bag"
            ),
            DeclareLaunchArgument(
                "model_dir", default_value="", description="model directory ('' = default)"
            ),
            emotion,
            play,
            echo,
        ]
    )
