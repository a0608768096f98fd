"""Start emotion_node with config/emotion.yaml; topics, model, backend, namespace and log level are arguments.

Example:
  ros2 launch ddvlm_ros emotion.launch.py image_topic:=/camera/image_raw transcript_topic:=/asr/transcript
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = {
    "image_topic": (
        "image",
        "sensor_msgs/Image input (sensor-data QoS); image/compressed is <image_topic>/compressed",
    ),
    "transcript_topic": ("transcript", "ddvlm_msgs/Transcript input (reliable)"),
    "emotion_topic": ("emotion", "ddvlm_msgs/EmotionState output (reliable)"),
    "namespace": ("", "namespace of the node and its relative topics"),
    "model_dir": ("", "model directory; '' = the package's models/ddvlm-meld-v1 (overrides the config file)"),
    "backend": ("auto", "auto | onnxruntime | tensorrt | torch (overrides the config file)"),
    "log_level": ("info", "debug | info | warn | error | fatal"),
    "use_sim_time": ("false", "true when replaying a bag with --clock"),
}


def generate_launch_description() -> LaunchDescription:
    """One node; every argument is declared so `ros2 launch ... --show-args` lists it."""
    default_config = PathJoinSubstitution([FindPackageShare("ddvlm_ros"), "config", "emotion.yaml"])
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in ARGUMENTS.items()
    ]
    declared.append(
        DeclareLaunchArgument("config", default_value=default_config, description="parameter YAML file")
    )
    arg = LaunchConfiguration
    node = Node(
        package="ddvlm_ros",
        executable="emotion_node",
        name="emotion_node",
        namespace=arg("namespace"),
        output="screen",
        parameters=[
            arg("config"),
            {"model_dir": arg("model_dir"), "backend": arg("backend"), "use_sim_time": arg("use_sim_time")},
        ],
        remappings=[
            ("image", arg("image_topic")),
            ("image/compressed", [arg("image_topic"), "/compressed"]),
            ("transcript", arg("transcript_topic")),
            ("emotion", arg("emotion_topic")),
        ],
        arguments=["--ros-args", "--log-level", arg("log_level")],
    )
    return LaunchDescription([*declared, node])
