"""Reference cases for tapegrad's layers (flatten, tanh, gelu, leaky_relu,
layer_norm), computed with PyTorch (a measuring tool, never a dependency of
the crate), in the tapegrad-golden/1 format of tests/golden/README.md.

Run: python tools/layers_reference.py > tests/golden/layers.json
Needs a Python with torch."""
import json
import torch
from golden_format import DT, record
import torch.nn.functional as F

gen = torch.Generator().manual_seed(21)




cases = []


def case(cid, op, inputs, options, fn, grad_inputs):
    record(cases, gen, cid, op, inputs, options, fn, grad_inputs)


def randn(shape, dt, scale=1.0):
    return torch.randn(shape, generator=gen, dtype=dt) * scale


for dt in (torch.float64, torch.float32):
    s = DT[dt]
    for shape, start, end in [([2, 3, 4], 1, -1), ([2, 3, 4, 5], 0, 1), ([2, 3, 4, 5], 1, 2), ([6], 0, -1),
                              ([2, 3], -1, -1), ([2, 3, 4], 2, 1), ([3], 1, -1), ([2, 3], 0, 5), ([2, 3], -3, 1)]:
        case(f"flatten/{'x'.join(map(str, shape))}/{start},{end}/{s}", "flatten", {"input": randn(shape, dt)},
             {"start_dim": start, "end_dim": end}, lambda t: torch.nn.Flatten(start, end)(t["input"]), ["input"])
    for shape in ([], [7], [3, 4], [2, 3, 5]):
        name = "x".join(map(str, shape)) or "scalar"
        case(f"tanh/{name}/{s}", "tanh", {"input": randn(shape, dt, 2.0)}, {}, lambda t: torch.tanh(t["input"]), ["input"])
        case(f"gelu/{name}/{s}", "gelu", {"input": randn(shape, dt, 3.0)}, {}, lambda t: F.gelu(t["input"]), ["input"])
        for slope in (0.01, 0.2, -0.5):
            case(f"leaky_relu/{name}/{slope}/{s}", "leaky_relu", {"input": randn(shape, dt, 2.0)},
                 {"negative_slope": slope}, lambda t: F.leaky_relu(t["input"], slope), ["input"])
    # extreme gelu inputs: saturation and the far negative tail
    x = torch.tensor([-40.0, -10.0, -5.0, -1e-3, 0.0, 1e-3, 5.0, 10.0, 40.0], dtype=dt)
    case(f"gelu/extremes/{s}", "gelu", {"input": x}, {}, lambda t: F.gelu(t["input"]), ["input"])
    x = torch.tensor([-3.0, 0.0, 2.0], dtype=dt)
    case(f"leaky_relu/zero/{s}", "leaky_relu", {"input": x}, {"negative_slope": 0.1},
         lambda t: F.leaky_relu(t["input"], 0.1), ["input"])
    for shape, ns, affine, eps in [([4, 5], [5], True, 1e-5), ([2, 3, 4], [4], True, 1e-5), ([2, 3, 4], [3, 4], True, 1e-5),
                                   ([3, 6], [6], False, 1e-5), ([5], [5], True, 1e-3), ([2, 3, 4], [4], True, 0.1),
                                   ([1, 1], [1], True, 1e-5), ([4, 5], [4], True, 1e-5), ([4, 5], [], True, 1e-5),
                                   ([2, 3, 4], [2, 3, 4, 5], True, 1e-5)]:
        inputs = {"input": randn(shape, dt, 2.0) + 0.5}
        if affine:
            pshape = ns if ns else [1]
            inputs["weight"] = randn(pshape, dt) + 1.0
            inputs["bias"] = randn(pshape, dt)
        names = list(inputs)
        case(f"layer_norm/{'x'.join(map(str, shape))}/{ns}/{'affine' if affine else 'plain'}/{eps}/{s}", "layer_norm", inputs,
             {"normalized_shape": ns, "eps": eps},
             lambda t: F.layer_norm(t["input"], ns, t.get("weight"), t.get("bias"), eps), names)
    # a weight of the wrong shape
    case(f"layer_norm/bad_weight/{s}", "layer_norm", {"input": randn([2, 4], dt), "weight": randn([3], dt)},
         {"normalized_shape": [4], "eps": 1e-5}, lambda t: F.layer_norm(t["input"], [4], t["weight"], None, 1e-5), ["input", "weight"])

print(json.dumps({"format": "tapegrad-golden/1", "generator": f"PyTorch {torch.__version__}",
                  "note": "Reference values and gradients computed by PyTorch (CPU). grads = d/d(input) of sum(output * grad_output).",
                  "op": "layers", "cases": cases}))
