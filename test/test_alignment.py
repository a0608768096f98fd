"""Unit tests of the alignment rules (which face features belong to an utterance) and of the dialogue
memory (which turns form its context)."""

from __future__ import annotations

import pytest

from ddvlm_ros.alignment import (
    AddResult,
    FaceFeatureBuffer,
    pick_evenly,
    seconds_to_ns,
    utterance_window,
)
from ddvlm_ros.dialogue import DialogueContext

S = 1_000_000_000


def test_buffer_window_is_inclusive_and_sorted() -> None:
    buf: FaceFeatureBuffer[str] = FaceFeatureBuffer(max_entries=100, max_age_ns=100 * S)
    for i in range(10):
        assert buf.add(i * S, f"f{i}") is AddResult.OK
    assert [item for _, item in buf.window(3 * S, 5 * S)] == ["f3", "f4", "f5"]
    assert buf.window(int(10.5 * S), 20 * S) == []
    with pytest.raises(ValueError):
        buf.window(5 * S, 3 * S)


def test_buffer_is_bounded_in_count_and_age() -> None:
    buf: FaceFeatureBuffer[int] = FaceFeatureBuffer(max_entries=5, max_age_ns=3 * S)
    for i in range(20):
        buf.add(i * S // 10, i)  # 10 Hz
    assert len(buf) == 5 and [x for _, x in buf] == [15, 16, 17, 18, 19]
    buf2: FaceFeatureBuffer[int] = FaceFeatureBuffer(max_entries=1000, max_age_ns=2 * S)
    for i in range(100):
        buf2.add(i * S // 10, i)
    stamps = [s for s, _ in buf2]
    assert stamps[-1] - stamps[0] <= 2 * S and len(buf2) == 21


def test_buffer_refuses_out_of_order_and_duplicates() -> None:
    buf: FaceFeatureBuffer[int] = FaceFeatureBuffer(max_entries=10, max_age_ns=10 * S)
    assert buf.add(5 * S, 1) is AddResult.OK
    assert buf.add(4 * S, 2) is AddResult.OUT_OF_ORDER
    assert buf.add(5 * S, 3) is AddResult.DUPLICATE
    assert [x for _, x in buf] == [1]
    buf.clear()
    assert len(buf) == 0 and buf.newest_ns is None
    assert buf.add(1 * S, 4) is AddResult.OK


def test_utterance_window_with_and_without_start() -> None:
    assert utterance_window(10 * S, 8 * S, S // 2, 3 * S) == (int(7.5 * S), int(10.5 * S))
    # unknown start: fallback before the end
    assert utterance_window(10 * S, 0, S // 2, 3 * S) == (int(6.5 * S), int(10.5 * S))
    # start after end is nonsense: treated as unknown
    assert utterance_window(10 * S, 12 * S, 0, 2 * S) == (8 * S, 10 * S)
    # never negative
    assert utterance_window(S, 0, S, 5 * S)[0] == 0
    with pytest.raises(ValueError):
        utterance_window(10 * S, 0, -1, S)
    with pytest.raises(ValueError):
        utterance_window(10 * S, 0, 0, 0)


def test_pick_evenly() -> None:
    assert pick_evenly(list(range(10)), 3) == [0, 4, 9] or pick_evenly(list(range(10)), 3) == [0, 5, 9]
    assert pick_evenly([1, 2], 5) == [1, 2]
    assert pick_evenly(list(range(9)), 1) == [4]
    assert pick_evenly([1, 2, 3], 0) == []
    picked = pick_evenly(list(range(100)), 8)
    assert len(picked) == 8 and picked[0] == 0 and picked[-1] == 99 and picked == sorted(set(picked))


def test_context_keeps_last_turns_per_conversation() -> None:
    ctx: DialogueContext[str] = DialogueContext(max_turns=2, idle_timeout_ns=60 * S)
    for i, text in enumerate(["a", "b", "c"]):
        ctx.add("d1", text, i * S)
    ctx.add("d2", "x", 3 * S)
    assert ctx.turns("d1", 4 * S) == ["b", "c"]
    assert ctx.turns("d2", 4 * S) == ["x"]
    assert ctx.turns("unknown", 4 * S) == []
    ctx.set_max_turns(1)
    assert ctx.turns("d1", 4 * S) == ["c"]
    ctx.add("d1", "d", 5 * S)
    assert ctx.turns("d1", 5 * S) == ["d"]
    ctx.set_max_turns(0)
    ctx.add("d1", "e", 6 * S)
    assert ctx.turns("d1", 6 * S) == []


def test_context_expires_and_is_bounded_and_resets() -> None:
    ctx: DialogueContext[str] = DialogueContext(max_turns=5, idle_timeout_ns=10 * S, max_conversations=3)
    ctx.add("old", "hi", 0)
    ctx.add("new", "yo", 9 * S)
    assert ctx.turns("old", 11 * S) == []  # idle 11 s > 10 s
    assert ctx.turns("new", 11 * S) == ["yo"]
    for i in range(5):
        ctx.add(f"c{i}", "t", 12 * S + i)
    assert len(ctx) == 3 and ctx.turns("c4", 12 * S + 5) == ["t"] and ctx.turns("c0", 12 * S + 5) == []
    ctx.state("c4", 12 * S + 6)["smoothed"] = [1.0]
    assert ctx.state("c4", 12 * S + 7)["smoothed"] == [1.0]
    assert ctx.reset("c4") == 1 and ctx.reset("c4") == 0
    assert ctx.reset() == 2 and len(ctx) == 0


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError):
        FaceFeatureBuffer(max_entries=0, max_age_ns=S)
    with pytest.raises(ValueError):
        DialogueContext(max_turns=-1, idle_timeout_ns=S)
    assert seconds_to_ns(0.25) == S // 4
