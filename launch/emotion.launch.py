"""Start emotion_node with a parameter file; topics, the most-set parameters, respawn and the DDS profile
are launch arguments (`ros2 launch ddvlm_ros emotion.launch.py --show-args` lists them).

Examples:
  ros2 launch ddvlm_ros emotion.launch.py image_topic:=/camera/image_raw transcript_topic:=/asr/transcript
  ros2 launch ddvlm_ros emotion.launch.py use_compressed:=true face_detection_rate_hz:=10.0 respawn:=true
  ros2 launch ddvlm_ros emotion.launch.py config:=/path/to/my_emotion.yaml dds_profile:=shm

A parameter argument left at its default '' keeps the value of the config file; every other parameter
is set through config:= (a copy of config/emotion.yaml) or, for live ones, `ros2 param set` at run time.
"""

import json
import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node

SHARE = get_package_share_directory("ddvlm_ros")
PROFILE_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")
DDS_PROFILES = {"shm": os.path.join(SHARE, "config", "fastdds_shm.xml")}

TOPICS = {
    "image_topic": (
        "image",
        "sensor_msgs/Image input (sensor-data QoS); image/compressed is <image_topic>/compressed",
    ),
    "transcript_topic": ("transcript", "ddvlm_msgs/Transcript input (reliable)"),
    "emotion_topic": ("emotion", "ddvlm_msgs/EmotionState output (reliable)"),
}

# Node parameters settable from the command line: argument (= parameter name) -> (type, description).
PARAMETERS: dict[str, tuple[type, str]] = {
    "model_dir": (str, "model directory ('' in the config = the package's models/ddvlm-meld-v3)"),
    "backend": (str, "auto | onnxruntime | tensorrt | torch"),
    "use_compressed": (bool, "true | false: also subscribe to <image_topic>/compressed (jpeg/png)"),
    "face_detection_rate_hz": (float, "face analyses per second of the image stream (0 = text only)"),
    "trailing_frames_wait_s": (float, "hold a final transcript up to this long for its trailing frames"),
    "visual_rate_hz": (float, "visual-only updates per second while nobody speaks (0 = off)"),
    "context_turns": (int, "previous dialogue turns given to the text model"),
    "threads": (int, "inference and OpenCV threads"),
}
DEFAULT_CONFIG = os.path.join(SHARE, "config", "emotion.yaml")


def config_defaults(path: str) -> dict:
    """The node's parameters in the installed config file (shown by --show-args)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)["/**"]["ros__parameters"]


def parameter_description(name: str, description: str, defaults: dict) -> str:
    shown = json.dumps(defaults[name]) if name in defaults else "unset: the node's default"
    return f"{description}; '' keeps the config file's value (config/emotion.yaml: {shown})"


OTHER_ARGUMENTS = {
    "config": (DEFAULT_CONFIG, "parameter YAML file (every node parameter)"),
    "namespace": ("", "namespace of the node and its relative topics"),
    "log_level": ("info", "debug | info | warn | error | fatal"),
    "use_sim_time": ("false", "true when replaying a bag with --clock"),
    "respawn": ("false", "true: start the node again whenever it exits while the launch runs"),
    "respawn_delay": ("1.0", "seconds between the node's exit and its restart (with respawn:=true)"),
    "lifecycle": ("false", "true: run the managed (lifecycle) node, see ddvlm_ros/lifecycle_node.py"),
    "autostart": ("true", "with lifecycle:=true, configure and activate the node at start (false: wait "
                  "for `ros2 lifecycle set`)"),
    "dds_profile": (
        "default",
        "default (the environment's DDS settings) | shm (config/fastdds_shm.xml: large shared-memory "
        "segments for camera images on one machine; the camera driver needs it too) | a Fast DDS XML path",
    ),
}


def typed(name: str, text: str, kind: type) -> object:
    """A launch argument's text as the parameter's type; a clear error names the argument."""
    if kind is bool:
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(f"launch argument {name}:={text!r} must be true or false")
        return lowered in ("true", "1")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"launch argument {name}:={text!r} must be a {kind.__name__}") from None


def profile_path(choice: str) -> str | None:
    """The Fast DDS XML to use, None for the environment's own settings."""
    if choice == "default":
        return None
    path = DDS_PROFILES.get(choice, choice)
    if not os.path.isfile(path):
        raise ValueError(f"launch argument dds_profile:={choice!r}: {path} does not exist")
    return path


def emotion_node(context: LaunchContext) -> list[Node]:
    """The node, built once the arguments are known (typed parameter overrides, respawn delay, env)."""

    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    overrides = {
        name: typed(name, value(name), kind) for name, (kind, _) in PARAMETERS.items() if value(name) != ""
    }
    overrides["use_sim_time"] = typed("use_sim_time", value("use_sim_time"), bool)
    profile = profile_path(value("dds_profile"))
    respawn_delay = typed("respawn_delay", value("respawn_delay"), float)
    if respawn_delay < 0:
        raise ValueError(f"launch argument respawn_delay:={respawn_delay} must be >= 0")
    config = value("config")
    if not os.path.isfile(config):
        raise ValueError(f"launch argument config:={config!r} is not a file")
    topic = value("image_topic")
    managed = typed("lifecycle", value("lifecycle"), bool)
    node_kind, lifecycle_args = (LifecycleNode, {"autostart": typed("autostart", value("autostart"), bool)}) \
        if managed else (Node, {})
    return [
        node_kind(
            package="ddvlm_ros",
            executable="emotion_lifecycle_node" if managed else "emotion_node",
            name="emotion_node",
            namespace=value("namespace"),
            **lifecycle_args,
            output="screen",
            parameters=[config, overrides],
            remappings=[
                ("image", topic),
                ("image/compressed", f"{topic}/compressed"),
                ("transcript", value("transcript_topic")),
                ("emotion", value("emotion_topic")),
            ],
            arguments=["--ros-args", "--log-level", value("log_level")],
            respawn=typed("respawn", value("respawn"), bool),
            respawn_delay=respawn_delay,
            additional_env=dict.fromkeys(PROFILE_VARIABLES, profile) if profile else None,
        )
    ]


def generate_launch_description() -> LaunchDescription:
    """Every argument is declared at the top level, so `--show-args` lists it with a plain default."""
    declared = [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in TOPICS.items()
    ]
    defaults = config_defaults(DEFAULT_CONFIG)
    declared += [
        DeclareLaunchArgument(
            name, default_value="", description=parameter_description(name, description, defaults)
        )
        for name, (_, description) in PARAMETERS.items()
    ]
    declared += [
        DeclareLaunchArgument(name, default_value=default, description=description)
        for name, (default, description) in OTHER_ARGUMENTS.items()
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=emotion_node)])
