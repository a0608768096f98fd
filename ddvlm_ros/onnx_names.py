"""Fresh tensor/node names for ONNX graph rewrites (quantize, INT8 compute, the TensorRT variant)."""

from __future__ import annotations

import onnx


class NameAllocator:
    """Hands out names not yet used in a graph: `base`, else `base_1`, `base_2`, ..."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.used = {n.name for n in graph.node} | {o for n in graph.node for o in n.output}
        self.used |= {t.name for t in graph.initializer}
        self.used |= {v.name for v in [*graph.input, *graph.output, *graph.value_info]}

    def __call__(self, base: str) -> str:
        name, i = base, 0
        while name in self.used:
            i += 1
            name = f"{base}_{i}"
        self.used.add(name)
        return name
