"""ament_python package ddvlm_ros: the emotion node, its tools and its data files."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "ddvlm_ros"


def tree(src: str) -> list[tuple[str, list[str]]]:
    """Install every file under src into share/ddvlm_ros/src, keeping sub-folders."""
    entries: dict[str, list[str]] = {}
    for path in sorted(Path(src).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            entries.setdefault(f"share/{PACKAGE}/{path.parent}", []).append(str(path))
    return sorted(entries.items())


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.xml")),
        *tree("models"),
    ],
    install_requires=["setuptools"],
    # Run-time Python packages without a rosdep key (package.xml lists the ones that have one), and the
    # optional TensorRT path: cuda-python's CUDA 12 runtime API (JetPack 6 and x86 drivers); TensorRT itself
    # comes from JetPack (python3-libnvinfer) or NVIDIA's `tensorrt` wheel.
    extras_require={
        "pip": ["onnx", "tokenizers", "rosbags"],
        "tensorrt": ["cuda-python>=12.6,<13"],
    },
    zip_safe=True,
    maintainer="ddvlm_ros maintainers",
    maintainer_email="ddvlm@example.com",
    description="DDVLM multimodal emotion recognition node for ROS 2",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "emotion_node = ddvlm_ros.emotion_node:main",
            "emotion_lifecycle_node = ddvlm_ros.lifecycle_node:main",
            "ddvlm-train = ddvlm_ros.training.train:main",
            "ddvlm-teacher = ddvlm_ros.training.teacher:main",
            "ddvlm-eval = ddvlm_ros.training.evaluate:main",
            "ddvlm-eval-faces = ddvlm_ros.face_eval:main",
            "ddvlm-export = ddvlm_ros.training.export:main",
            "ddvlm-bag = ddvlm_ros.replay.cli:main",
        ],
    },
)
