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


def record(cases, gen, cid, op, inputs, options, fn, grad_inputs):
    """Appends one case to `cases`: `fn(inputs)`'s output and the gradients of
    sum(output * grad_output) for `grad_inputs` (grad_output drawn from
    `gen`), or, when PyTorch rejects the inputs, its error's first line."""
    ins = {k: v.clone().requires_grad_(k in grad_inputs) for k, v in inputs.items()}
    c = {"id": cid, "op": op, "inputs": {k: enc(v) for k, v in inputs.items()}, "options": options}
    try:
        out = fn(ins)
    except Exception as e:  # PyTorch rejects the input: the engine must return an Err
        c["error"] = str(e).split("\n")[0]
        cases.append(c)
        return
    go = torch.randn(out.shape, generator=gen, dtype=out.dtype)
    (out * go).sum().backward()
    c["output"] = enc(out)
    c["grad_output"] = enc(go)
    c["grads"] = {k: enc(ins[k].grad) for k in grad_inputs}
    cases.append(c)
