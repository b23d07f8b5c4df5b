"""Reference cases for tapegrad's batch normalisation (F.batch_norm,
nn.BatchNorm1d, nn.BatchNorm2d), computed with PyTorch (a measuring tool,
never a dependency of the crate), in the tapegrad-golden/1 format of
tests/golden/README.md.

`cases`: op cases. `batch_norm` takes `input`, `weight`, `bias` and, in
eval mode or to be updated in train mode, `running_mean` and `running_var`;
options `training`, `momentum`, `eps`. `batch_norm1d` / `batch_norm2d` are
the layers with PyTorch's defaults (options `num_features`, `training`).

`running_stats`: layers trained on `steps` batches (train mode), with the
resulting `running_mean`, `running_var`, `num_batches_tracked`, then
`eval_output` for `eval_input` in eval mode.

Run: python tools/batchnorm_reference.py > tests/golden/batch_norm.json
Needs a Python with torch."""
import json
import torch
from golden_format import DT, enc, record
import torch.nn.functional as F

gen = torch.Generator().manual_seed(23)




cases = []


def case(cid, op, inputs, options, fn, grad_inputs):
    record(cases, gen, cid, op, inputs, options, fn, grad_inputs)


def randn(shape, dt, scale=1.0):
    return torch.randn(shape, generator=gen, dtype=dt) * scale


def fbn(training, momentum, eps):
    def f(t):
        return F.batch_norm(t["input"], t.get("running_mean"), t.get("running_var"), t.get("weight"), t.get("bias"),
                            training, momentum, eps)
    return f


for dt in (torch.float64, torch.float32):
    s = DT[dt]
    for shape in ([4, 3], [5, 2, 7], [3, 4, 2, 5], [2, 3, 3, 3], [6, 1], [2, 2]):
        c = shape[1]
        name = "x".join(map(str, shape))
        for affine in (True, False):
            for training, momentum, eps in ((True, 0.1, 1e-5), (True, 0.3, 1e-3), (False, 0.1, 1e-5)):
                inputs = {"input": randn(shape, dt, 2.0) + 0.7}
                if affine:
                    inputs["weight"] = randn([c], dt) + 1.0
                    inputs["bias"] = randn([c], dt)
                if not training or affine:  # train mode both with and without running statistics
                    inputs["running_mean"] = randn([c], dt)
                    inputs["running_var"] = randn([c], dt).abs() + 0.5
                grads = [k for k in ("input", "weight", "bias") if k in inputs]
                mode = "train" if training else "eval"
                case(f"batch_norm/{name}/{'affine' if affine else 'plain'}/{mode}/{momentum}/{eps}/{s}", "batch_norm",
                     inputs, {"training": training, "momentum": momentum, "eps": eps}, fbn(training, momentum, eps),
                     grads)
    # rejected: one value per channel when training, a parameter of the wrong shape, a 1-D input
    case(f"batch_norm/one_value_per_channel/{s}", "batch_norm", {"input": randn([1, 3], dt)},
         {"training": True, "momentum": 0.1, "eps": 1e-5}, fbn(True, 0.1, 1e-5), [])
    case(f"batch_norm/one_value_per_channel_4d/{s}", "batch_norm", {"input": randn([1, 3, 1, 1], dt)},
         {"training": True, "momentum": 0.1, "eps": 1e-5}, fbn(True, 0.1, 1e-5), [])
    case(f"batch_norm/weight_shape/{s}", "batch_norm", {"input": randn([4, 3], dt), "weight": randn([2], dt)},
         {"training": True, "momentum": 0.1, "eps": 1e-5}, fbn(True, 0.1, 1e-5), [])
    case(f"batch_norm/running_mean_shape/{s}", "batch_norm",
         {"input": randn([4, 3], dt), "running_mean": randn([4], dt), "running_var": randn([3], dt).abs()},
         {"training": False, "momentum": 0.1, "eps": 1e-5}, fbn(False, 0.1, 1e-5), [])

# the layers, with PyTorch's defaults (f32)
for layer, shape, training in (("batch_norm1d", [4, 3], True), ("batch_norm1d", [4, 3, 5], True),
                               ("batch_norm2d", [2, 3, 4, 4], True), ("batch_norm1d", [4, 3, 5], False),
                               ("batch_norm2d", [2, 3, 4, 4], False),
                               # rejected
                               ("batch_norm2d", [2, 3, 4], True), ("batch_norm1d", [2, 3, 4, 4], True),
                               ("batch_norm1d", [4, 5], True), ("batch_norm2d", [2, 5, 3, 3], True),
                               ("batch_norm1d", [1, 3], True), ("batch_norm2d", [1, 3, 1, 1], True),
                               ("batch_norm1d", [3], True)):
    def f(t, layer=layer, training=training):
        m = (torch.nn.BatchNorm1d if layer == "batch_norm1d" else torch.nn.BatchNorm2d)(3)
        m.train(training)
        return m(t["input"])
    case(f"{layer}/{'x'.join(map(str, shape))}/{'train' if training else 'eval'}/f32", layer,
         {"input": randn(shape, torch.float32, 2.0) + 0.5}, {"num_features": 3, "training": training}, f, ["input"])

running = []
for layer, shape, momentum, eps, k in (("BatchNorm1d", [8, 4], 0.1, 1e-5, 3), ("BatchNorm1d", [5, 4, 6], 0.25, 1e-3, 4),
                                        ("BatchNorm2d", [3, 4, 5, 5], 0.1, 1e-5, 3),
                                        ("BatchNorm2d", [2, 4, 3, 2], 0.5, 1e-4, 5)):
    m = getattr(torch.nn, layer)(4, momentum=momentum, eps=eps)
    with torch.no_grad():
        m.weight.copy_(randn([4], torch.float32) + 1.0)
        m.bias.copy_(randn([4], torch.float32))
    steps = [randn(shape, torch.float32, 3.0) + 1.5 for _ in range(k)]
    for x in steps:
        m(x)
    m.eval()
    x = randn(shape, torch.float32, 3.0) + 1.5
    running.append({
        "id": f"{layer}/{'x'.join(map(str, shape))}/{momentum}/{eps}/{k}", "layer": layer, "num_features": 4,
        "momentum": momentum, "eps": eps, "weight": enc(m.weight), "bias": enc(m.bias),
        "steps": [enc(x) for x in steps], "running_mean": enc(m.running_mean), "running_var": enc(m.running_var),
        "num_batches_tracked": enc(m.num_batches_tracked), "eval_input": enc(x), "eval_output": enc(m(x)),
        "state_dict": {k: {"dtype": DT[v.dtype], "shape": list(v.shape)} for k, v in m.state_dict().items()},
    })

print(json.dumps({"format": "tapegrad-golden/1", "generator": f"PyTorch {torch.__version__}",
                  "note": "Reference values and gradients computed by PyTorch (CPU). grads = d/d(input) of "
                          "sum(output * grad_output).", "op": "batch_norm", "cases": cases, "running_stats": running}))
