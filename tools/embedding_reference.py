"""Reference cases for tapegrad's embedding lookup (F.embedding, with and
without padding_idx), computed with PyTorch (a measuring tool, never a
dependency of the crate), in the tapegrad-golden/1 format of
tests/golden/README.md.

Run: python tools/embedding_reference.py > tests/golden/embedding.json
Needs a Python with torch."""
import json
import torch
from golden_format import DT, record
import torch.nn.functional as F

gen = torch.Generator().manual_seed(7)
cases = []


def case(cid, inputs, options, fn):
    record(cases, gen, cid, "embedding", inputs, options, fn, ["weight"])


def randn(shape, dt):
    return torch.randn(shape, generator=gen, dtype=dt)


def randint(high, shape):
    return torch.randint(0, high, shape, generator=gen)


for dt in (torch.float64, torch.float32):
    s = DT[dt]
    for num, dim, ishape in [(10, 3, [5]), (10, 4, [2, 3]), (7, 2, []), (5, 3, [2, 2, 2]), (3, 5, [4, 6]),
                             (1, 1, [3]), (6, 2, [0]), (6, 2, [2, 0]), (50, 8, [16])]:
        name = f"{num}x{dim}/{'x'.join(map(str, ishape)) or 'scalar'}/{s}"
        case(f"embedding/{name}", {"input": randint(num, ishape), "weight": randn([num, dim], dt)},
             {"padding_idx": None}, lambda t: F.embedding(t["input"], t["weight"]))
    # repeated rows accumulate their gradients
    idx = torch.tensor([[1, 1, 1], [0, 1, 3]])
    case(f"embedding/repeats/{s}", {"input": idx, "weight": randn([4, 3], dt)}, {"padding_idx": None},
         lambda t: F.embedding(t["input"], t["weight"]))
    for p in (0, 2, -1, -4):
        idx = torch.tensor([[0, 2, 3], [2, 1, 0]])
        case(f"embedding/padding_idx={p}/{s}", {"input": idx, "weight": randn([4, 3], dt)}, {"padding_idx": p},
             lambda t: F.embedding(t["input"], t["weight"], padding_idx=p))
    # errors: an index out of range either side, a 1-D weight, a padding_idx out of range
    case(f"embedding/index_too_large/{s}", {"input": torch.tensor([0, 5, 1]), "weight": randn([5, 2], dt)},
         {"padding_idx": None}, lambda t: F.embedding(t["input"], t["weight"]))
    case(f"embedding/index_negative/{s}", {"input": torch.tensor([[0, -1]]), "weight": randn([5, 2], dt)},
         {"padding_idx": None}, lambda t: F.embedding(t["input"], t["weight"]))
    case(f"embedding/weight_1d/{s}", {"input": torch.tensor([0, 1]), "weight": randn([5], dt)},
         {"padding_idx": None}, lambda t: F.embedding(t["input"], t["weight"]))
    case(f"embedding/padding_idx_out_of_range/{s}", {"input": torch.tensor([0, 1]), "weight": randn([5, 2], dt)},
         {"padding_idx": 5}, lambda t: F.embedding(t["input"], t["weight"], padding_idx=5))

print(json.dumps({"format": "tapegrad-golden/1", "generator": f"PyTorch {torch.__version__}",
                  "note": "Reference values and gradients computed by PyTorch (CPU). grads = d/d(weight) of sum(output * grad_output).",
                  "op": "embedding", "cases": cases}))
