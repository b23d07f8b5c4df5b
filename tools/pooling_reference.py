"""Reference cases for tapegrad's 2-D pooling (max_pool2d, avg_pool2d),
computed with PyTorch (a measuring tool, never a dependency of the crate), in
the tapegrad-golden/1 format of tests/golden/README.md.

Run: python tools/pooling_reference.py > tests/golden/pooling.json
Needs a Python with torch."""
import json, math
import torch
from golden_format import DT, record
import torch.nn.functional as F

gen = torch.Generator().manual_seed(33)




cases = []


def case(cid, op, x, options):
    k, s, p = options["kernel_size"], options["stride"], options["padding"]
    fn = F.max_pool2d if op == "max_pool2d" else F.avg_pool2d
    record(cases, gen, cid, op, {"input": x}, options, lambda ins: fn(ins["input"], k, s, p), ["input"])


def randn(shape, dt):
    return torch.randn(shape, generator=gen, dtype=dt)


GEOMS = [  # shape, kernel, stride, padding
    ([2, 3, 6, 6], [2, 2], [2, 2], [0, 0]),
    ([1, 2, 7, 5], [3, 3], [2, 2], [1, 1]),
    ([2, 1, 5, 8], [2, 3], [1, 2], [1, 0]),
    ([1, 1, 4, 4], [1, 1], [1, 1], [0, 0]),
    ([3, 2, 9, 7], [3, 2], [3, 1], [0, 1]),
    ([1, 3, 5, 5], [5, 5], [1, 1], [2, 2]),
    ([2, 2, 4, 6], [4, 6], [4, 6], [0, 0]),
    ([1, 1, 3, 3], [2, 2], [1, 1], [1, 1]),
    ([2, 4, 6, 5], [3, 3], [1, 1], [0, 0]),
    ([3, 5, 6], [2, 2], [2, 2], [0, 0]),
    ([2, 7, 4], [3, 2], [2, 1], [1, 1]),
    ([0, 2, 4, 4], [2, 2], [2, 2], [0, 0]),
]

BAD = [  # shape, kernel, stride, padding, what
    ([1, 1, 4, 4], [0, 2], [1, 1], [0, 0], "kernel0"),
    ([1, 1, 4, 4], [2, 2], [0, 1], [0, 0], "stride0"),
    ([1, 1, 4, 4], [2, 2], [1, 1], [2, 0], "pad_over_half"),
    ([1, 1, 4, 4], [3, 3], [1, 1], [0, 2], "pad_over_half_w"),
    ([1, 1, 2, 5], [3, 3], [1, 1], [0, 0], "window_too_large"),
    ([1, 1, 5, 2], [2, 4], [1, 1], [0, 1], "window_fits_padded"),
    ([4, 4], [2, 2], [2, 2], [0, 0], "ndim2"),
    ([1, 1, 1, 4, 4], [2, 2], [2, 2], [0, 0], "ndim5"),
]

for dt in (torch.float64, torch.float32):
    s = DT[dt]
    for op in ("max_pool2d", "avg_pool2d"):
        for shape, k, st, p in GEOMS:
            opts = {"kernel_size": k, "stride": st, "padding": p}
            case(f"{op}/{'x'.join(map(str, shape))}/k{k}/s{st}/p{p}/{s}", op, randn(shape, dt) * 2.0, opts)
        for shape, k, st, p, what in BAD:
            opts = {"kernel_size": k, "stride": st, "padding": p}
            case(f"{op}/error/{what}/{s}", op, randn(shape, dt), opts)
        # ties (first maximum wins), NaN (a NaN is the maximum), infinities
        ties = torch.tensor([[1.0, 3.0, 3.0, 0.0], [3.0, 2.0, 3.0, 3.0], [-1.0, -1.0, 5.0, 5.0], [-1.0, -1.0, 5.0, 5.0]],
                            dtype=dt).reshape(1, 1, 4, 4)
        opts = {"kernel_size": [2, 2], "stride": [1, 1], "padding": [0, 0]}
        case(f"{op}/ties/{s}", op, ties, opts)
        opts = {"kernel_size": [2, 2], "stride": [2, 2], "padding": [1, 1]}
        case(f"{op}/ties_padded/{s}", op, -ties, opts)
        nan = float("nan")
        special = torch.tensor([[1.0, nan, 2.0, nan], [nan, 0.0, 7.0, 3.0], [-math.inf, -math.inf, math.inf, 1.0],
                                [-math.inf, -math.inf, 2.0, 0.5]], dtype=dt).reshape(1, 4, 4)
        opts = {"kernel_size": [2, 2], "stride": [2, 2], "padding": [0, 0]}
        case(f"{op}/nan_inf/{s}", op, special, opts)
        opts = {"kernel_size": [2, 2], "stride": [1, 1], "padding": [1, 1]}
        case(f"{op}/nan_inf_overlap/{s}", op, special, opts)

print(json.dumps({"format": "tapegrad-golden/1", "generator": f"PyTorch {torch.__version__}",
                  "note": "Reference values and gradients computed by PyTorch (CPU). grads = d/d(input) of sum(output * grad_output).",
                  "op": "pooling", "cases": cases}))
