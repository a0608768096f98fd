"""Per-conversation and per-source state stays bounded: thousands of distinct conversation ids (long ones,
as a hostile or buggy ASR might send) leave the engine's structures at their configured bounds and its
Python heap flat, and a first transcript with a negative stamp is not "out of order"."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator, Sized

import numpy as np
import pytest
from test_node_harness import model_dir

from ddvlm_ros.engine import EmotionEngine, EngineSettings, Model, Utterance

S = 1_000_000_000
T0 = 1_800_000_000 * S
MAX_CONVERSATIONS = 16
ID_BYTES = 20_000  # each conversation id; a leak of one map entry per id is then 20 kB per utterance


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.load(model_dir())


def make_engine(model: Model, clock: list[int]) -> EmotionEngine:
    settings = EngineSettings.from_values(
        {"max_conversations": MAX_CONVERSATIONS, "face_detection_rate_hz": 0.0}
    )
    return EmotionEngine(model, settings, now_ns=lambda: clock[0], wall_s=lambda: clock[0] / S)


def containers(obj: object, depth: int = 2) -> Iterator[tuple[str, Sized]]:
    """Every sized container reachable from obj's attributes (and theirs, to `depth`), by path."""
    for name, value in vars(obj).items():
        if isinstance(value, dict | list | set | Sized) and not isinstance(value, str | bytes | np.ndarray):
            try:
                len(value)
            except TypeError:
                continue
            yield name, value
        if depth > 1 and hasattr(value, "__dict__") and not isinstance(value, type | Model):
            for sub, item in containers(value, depth - 1):
                yield f"{name}.{sub}", item


def utterance(i: int, clock: list[int], text: str = "fine") -> Utterance:
    clock[0] += S // 10
    cid = f"{i:08d}-" + "x" * ID_BYTES
    return Utterance(cid, f"u{i}", "A", text, clock[0] - S, clock[0])


@pytest.mark.slow
def test_thousands_of_conversation_ids_keep_every_structure_bounded(model: Model) -> None:
    clock = [T0]
    engine = make_engine(model, clock)
    for i in range(300):  # warm up: caches, counters, the context store filled to its bound
        engine.submit(utterance(i, clock))
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        for i in range(300, 1100):
            engine.submit(utterance(i, clock))
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert engine.status().conversations == MAX_CONVERSATIONS
    sizes = {name: len(c) for name, c in containers(engine)}
    bound = max(MAX_CONVERSATIONS, engine.settings.frame_buffer_size)
    assert all(n <= bound for n in sizes.values()), {k: v for k, v in sizes.items() if v > bound}
    # 800 new 20 kB ids: a per-id leak would hold 16 MB; the bounded store holds 16 of them.
    assert grown < 5_000_000, f"heap grew {grown / 1e6:.1f} MB over 800 new conversation ids"


def test_negative_first_stamp_is_not_out_of_order(model: Model) -> None:
    clock = [T0]
    engine = make_engine(model, clock)
    (answer,) = engine.submit(Utterance("c", "u1", "A", "hello", 0, -5 * S))
    assert engine.status().counts.get("transcript_out_of_order", 0) == 0
    engine.submit(Utterance("c", "u2", "A", "hello again", 0, -6 * S))
    assert engine.status().counts["transcript_out_of_order"] == 1


def test_conversation_expiry_forgets_its_order_state(model: Model) -> None:
    clock = [T0]
    engine = make_engine(model, clock)
    engine.submit(Utterance("c", "u1", "A", "hello", 0, clock[0]))
    clock[0] += int(engine.settings.conversation_idle_timeout_s * S) + S  # idle: context expires
    engine.submit(Utterance("c", "u2", "A", "a new day", 0, clock[0] - 3600 * S))  # older than u1
    assert engine.status().counts.get("transcript_out_of_order", 0) == 0
