"""Reference values for tapegrad's learning-rate schedules and gradient clipping,
computed with PyTorch (a measuring tool, never a dependency of the crate).

Run: python tools/training_utils_reference.py > tests/golden/training_utils.json
Needs a Python with torch (2.15 made the committed file)."""
import json, math
import torch

def schedule(make, lr, epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    s = make(opt)
    out = []
    for _ in range(epochs):
        opt.step()
        s.step()
        out.append(opt.param_groups[0]["lr"])
    return out

cases = {"torch": torch.__version__, "schedules": [], "clip_grad_norm": [], "clip_grad_value": []}
for (kind, args, lr, epochs) in [
    ("StepLr", {"step_size": 3, "gamma": 0.5}, 0.1, 12),
    ("StepLr", {"step_size": 1, "gamma": 0.9}, 1e-3, 10),
    ("ExponentialLr", {"gamma": 0.95}, 0.01, 30),
    ("CosineAnnealingLr", {"t_max": 10, "eta_min": 0.0}, 0.1, 35),
    ("CosineAnnealingLr", {"t_max": 7, "eta_min": 1e-4}, 3e-3, 30),
]:
    make = {
        "StepLr": lambda o: torch.optim.lr_scheduler.StepLR(o, args["step_size"], args["gamma"]),
        "ExponentialLr": lambda o: torch.optim.lr_scheduler.ExponentialLR(o, args["gamma"]),
        "CosineAnnealingLr": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, args["t_max"], args["eta_min"]),
    }[kind]
    cases["schedules"].append({"kind": kind, "args": args, "lr": lr, "lrs": schedule(make, lr, epochs)})

gen = torch.Generator().manual_seed(0)
for (shapes, max_norm, norm_type, dtype) in [
    ([[3, 4], [5], [2, 2, 2]], 1.0, 2.0, torch.float64),
    ([[3, 4], [5]], 0.5, 1.0, torch.float64),
    ([[7], [2, 3]], 0.25, math.inf, torch.float64),
    ([[4, 4]], 100.0, 2.0, torch.float64),
    ([[6], [3]], 0.3, 3.0, torch.float64),
]:
    grads = [torch.randn(s, generator=gen, dtype=dtype) for s in shapes]
    ps = [torch.nn.Parameter(torch.zeros(s, dtype=dtype)) for s in shapes]
    for p, g in zip(ps, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    cases["clip_grad_norm"].append({
        "shapes": shapes, "max_norm": max_norm, "norm_type": "inf" if norm_type == math.inf else norm_type,
        "grads": [g.flatten().tolist() for g in grads], "total": total.item(),
        "clipped": [p.grad.flatten().tolist() for p in ps]})

grads = [torch.randn(s, generator=gen, dtype=torch.float64) for s in [[5], [2, 3]]]
ps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
for p, g in zip(ps, grads):
    p.grad = g.clone()
torch.nn.utils.clip_grad_value_(ps, 0.5)
cases["clip_grad_value"].append({"shapes": [[5], [2, 3]], "clip_value": 0.5, "grads": [g.flatten().tolist() for g in grads],
                                 "clipped": [p.grad.flatten().tolist() for p in ps]})
print(json.dumps(cases, indent=1))
