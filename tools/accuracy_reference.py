"""Writes tests/golden/accuracy.json: PyTorch's f32 results for large reductions
and the f64 truth, on inputs both sides regenerate from an integer LCG.

Run with a Python that has torch (a measuring tool, not a dependency):
    python3 tools/accuracy_reference.py
"""
import json, sys
import torch

def lcg(n, seed):
    s = seed
    out = []
    for _ in range(n):
        s = (1664525 * s + 1013904223) % 2**32
        out.append(s)
    return out

def values(n, seed):
    # k / 1000 for k in [-10000, 10000]: the same f32 in Rust and in Python
    return [((s >> 8) % 20001 - 10000) / 1000.0 for s in lcg(n, seed)]

cases = []
n = 1 << 22
x = values(n, 1)
y = values(n, 2)
for name, fn in [("mse_loss", torch.nn.functional.mse_loss), ("l1_loss", torch.nn.functional.l1_loss)]:
    f32 = fn(torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)).item()
    f64 = fn(torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)).item()
    cases.append({"op": name, "n": n, "seed_input": 1, "seed_target": 2, "pytorch_f32": f32, "truth_f64": f64})
rows, classes = 4096, 1000
z = values(rows * classes, 3)
t = [s % classes for s in lcg(rows, 4)]
zt = torch.tensor(z, dtype=torch.float64).reshape(rows, classes)
tt = torch.tensor(t, dtype=torch.int64)
f32 = torch.nn.functional.cross_entropy(zt.float(), tt).item()
f64 = torch.nn.functional.cross_entropy(zt, tt).item()
cases.append({"op": "cross_entropy", "rows": rows, "classes": classes, "seed_input": 3, "seed_target": 4, "pytorch_f32": f32, "truth_f64": f64})
json.dump({"generator": f"PyTorch {torch.__version__}", "note": __doc__.strip().splitlines()[0], "cases": cases},
          open(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/accuracy.json", "w"), indent=1)
print(json.dumps(cases, indent=1))
