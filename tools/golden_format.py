"""The tensor encoding of the tapegrad-golden/1 format (tests/golden/README.md),
shared by the scripts that make reference cases with PyTorch."""
import math
import torch

DT = {torch.float32: "f32", torch.float64: "f64", torch.int64: "i64"}


def num(v):
    """A JSON number, or the strings "nan", "inf", "-inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def enc(t):
    """A tensor as {"dtype", "shape", "data"}."""
    return {"dtype": DT[t.dtype], "shape": list(t.shape), "data": [num(v) for v in t.detach().flatten().tolist()]}
