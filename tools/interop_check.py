"""Loads the model file tapegrad writes (tests/interop/tapegrad_mlp.safetensors)
into PyTorch's Sequential(Linear(64,128), ReLU(), Dropout(0.1), Linear(128,10))
with load_state_dict(strict=True), runs the 32 inputs of tapegrad_mlp.json in
eval mode and compares with the logits tapegrad computed there.

Needs a Python with torch and safetensors: python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch safetensors
Run:   /tmp/tv/bin/python tools/interop_check.py
Prints the largest absolute difference; exits nonzero on a mismatch."""
import json, os, sys
import torch
from safetensors.torch import load_file

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "interop")
# f32 tolerances: the two libraries sum the 64- and 128-term dot products in
# different orders, so the last bits of each logit may differ.
RTOL, ATOL = 1e-5, 1e-5


def tensor(t):
    assert t["dtype"] == "f32", t["dtype"]
    return torch.tensor(t["data"], dtype=torch.float64).to(torch.float32).reshape(t["shape"])


def main():
    case = json.load(open(os.path.join(HERE, "tapegrad_mlp.json")))
    state = load_file(os.path.join(HERE, "tapegrad_mlp.safetensors"))
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(128, 10)
    )
    model.load_state_dict(state, strict=True)
    for k, shape in case["state_dict_keys"].items():
        assert list(state[k].shape) == shape and state[k].dtype == torch.float32, k
    model.eval()
    x, expected = tensor(case["input"]), tensor(case["eval_logits"])
    with torch.no_grad():
        got = model(x)
    if got.shape != expected.shape:
        print(f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
        return 1
    diff = (got - expected).abs()
    ok = bool((diff <= ATOL + RTOL * expected.abs()).all())
    same_argmax = bool((got.argmax(1) == expected.argmax(1)).all())
    print(f"torch {torch.__version__}: {len(state)} tensors loaded (strict), logits {tuple(got.shape)}, "
          f"max |diff| = {diff.max().item():.3e}, argmax agrees: {same_argmax}, "
          f"{'OK' if ok else 'MISMATCH'} (atol {ATOL}, rtol {RTOL})")
    return 0 if ok and same_argmax else 1


if __name__ == "__main__":
    sys.exit(main())
