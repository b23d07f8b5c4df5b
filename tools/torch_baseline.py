"""PyTorch (CPU) timings for the tapegrad benchmark workloads, for side-by-side comparison.

Needs a Python with torch (and safetensors for the save/load row): python3 -m venv /tmp/tv && /tmp/tv/bin/pip install torch safetensors
Run:   /tmp/tv/bin/python torch_baseline.py [--threads N] [--only NAME] [--json]
Prints one line per workload: name, median ms over repeats, and the copy floor where it applies.
Workload names and shapes match the criterion benchmarks in benches/workloads.rs."""
import argparse, json, statistics, time
import torch
import torch.nn.functional as F

def bench(fn, min_time=0.5, min_reps=5):
    fn()  # warm-up
    times = []
    t_end = time.perf_counter() + min_time
    while len(times) < min_reps or time.perf_counter() < t_end:
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
        if len(times) > 2000:
            break
    return statistics.median(times) * 1e3

def workloads():
    g = torch.Generator().manual_seed(0)
    W = {}
    def ce(N, C, **kw):
        x = torch.randn(N, C, generator=g).requires_grad_(True)
        t = torch.randint(0, C, (N,), generator=g)
        def run():
            x.grad = None
            F.cross_entropy(x, t, **kw).backward()
        return run, N * C * 4
    W["ce_fwd_bwd_2048x8192"] = ce(2048, 8192)
    W["ce_fwd_bwd_64x10"] = ce(64, 10)
    w = torch.rand(1000, generator=g) + 0.5
    W["ce_ls_weighted_2048x1000"] = ce(2048, 1000, weight=w, label_smoothing=0.1)
    def ce_fwd(N, C):
        x = torch.randn(N, C, generator=g)
        t = torch.randint(0, C, (N,), generator=g)
        return (lambda: F.cross_entropy(x, t)), N * C * 4
    W["ce_fwd_2048x8192"] = ce_fwd(2048, 8192)
    def ce_prob(N, C):
        x = torch.randn(N, C, generator=g).requires_grad_(True)
        p = torch.randn(N, C, generator=g).softmax(1)
        def run():
            x.grad = None
            F.cross_entropy(x, p).backward()
        return run, N * C * 4 * 2
    W["ce_prob_fwd_bwd_2048x1000"] = ce_prob(2048, 1000)
    def ce_kdim():
        x = torch.randn(8, 21, 128, 128, generator=g).requires_grad_(True)
        t = torch.randint(0, 21, (8, 128, 128), generator=g)
        def run():
            x.grad = None
            F.nll_loss(F.log_softmax(x, 1), t).backward()
        return run, x.numel() * 4
    W["nll_2d_fwd_bwd_8x21x128x128"] = ce_kdim()
    def elementwise(name, fn, n=1 << 22):
        x = torch.randn(n, generator=g).requires_grad_(True)
        y = torch.rand(n, generator=g)
        def run():
            x.grad = None
            fn(x, y).backward()
        return run, n * 4 * 2
    W["bce_logits_fwd_bwd_4M"] = elementwise("bcel", F.binary_cross_entropy_with_logits)
    W["mse_fwd_bwd_4M"] = elementwise("mse", F.mse_loss)
    W["l1_fwd_bwd_4M"] = elementwise("l1", F.l1_loss)
    W["smooth_l1_fwd_bwd_4M"] = elementwise("sl1", F.smooth_l1_loss)
    def bce_sig(n=1 << 22):
        x = torch.randn(n, generator=g).requires_grad_(True)
        y = torch.rand(n, generator=g)
        def run():
            x.grad = None
            F.binary_cross_entropy(torch.sigmoid(x), y).backward()
        return run, n * 4 * 2
    W["bce_sigmoid_fwd_bwd_4M"] = bce_sig()
    def overhead():
        a = torch.tensor(0.5, requires_grad=True)
        b = torch.tensor(-1.5, requires_grad=True)
        def run():
            a.grad = None; b.grad = None
            y = a
            for _ in range(250):
                y = torch.tanh(y * b + a)
            y.backward()
        return run, None
    W["scalar_chain_1000ops"] = overhead()
    def mlp():
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        opt = torch.optim.SGD(m.parameters(), lr=0.01)
        x = torch.randn(128, 784, generator=g); t = torch.randint(0, 10, (128,), generator=g)
        def run():
            opt.zero_grad()
            F.cross_entropy(m(x), t).backward()
            opt.step()
        return run, None
    W["mlp_train_step_b128"] = mlp()
    def conv_seed():
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(16, 4, (3, 3))
        data = torch.randn(5, 16, 10, 10, generator=g)
        t = torch.randint(0, 4, (5, 8, 8), generator=g)
        def run():
            conv.zero_grad()
            F.nll_loss(F.log_softmax(conv(data), 1), t).backward()
        return run, None
    W["conv_seed_example"] = conv_seed()
    def conv_big():
        torch.manual_seed(0)
        conv = torch.nn.Conv2d(16, 32, (3, 3), padding=1)
        data = torch.randn(32, 16, 32, 32, generator=g)
        t = torch.randint(0, 32, (32, 32, 32), generator=g)
        def run():
            conv.zero_grad()
            F.cross_entropy(conv(data), t).backward()
        return run, None
    W["conv_train_step_32x16x32x32"] = conv_big()
    # ---- second part: the rest of torch.nn's losses, double backward, layers, save/load ----
    def two(fn, n=1 << 22, target="rand"):
        x = torch.randn(n, generator=g).requires_grad_(True)
        y = {"rand": torch.rand(n, generator=g), "randn": torch.randn(n, generator=g),
             "sign": torch.randint(0, 2, (n,), generator=g).float() * 2 - 1,
             "count": torch.poisson(torch.rand(n, generator=g) * 4, generator=g)}[target]
        def run():
            x.grad = None
            fn(x, y).backward()
        return run, n * 4 * 2
    W["kl_div_fwd_bwd_4M"] = two(lambda x, y: F.kl_div(x, y, reduction="batchmean"))
    W["poisson_nll_fwd_bwd_4M"] = two(F.poisson_nll_loss, target="count")
    W["soft_margin_fwd_bwd_4M"] = two(F.soft_margin_loss, target="sign")
    W["hinge_embedding_fwd_bwd_4M"] = two(F.hinge_embedding_loss, target="sign")
    def gauss(n=1 << 22):
        x = torch.randn(n, generator=g).requires_grad_(True); y = torch.randn(n, generator=g)
        v = (torch.rand(n, generator=g) + 0.1).requires_grad_(True)
        def run():
            x.grad = None; v.grad = None
            F.gaussian_nll_loss(x, y, v).backward()
        return run, n * 4 * 3
    W["gaussian_nll_fwd_bwd_4M"] = gauss()
    def ranking(n=1 << 22):
        a = torch.randn(n, generator=g).requires_grad_(True); b = torch.randn(n, generator=g).requires_grad_(True)
        y = torch.randint(0, 2, (n,), generator=g).float() * 2 - 1
        def run():
            a.grad = None; b.grad = None
            F.margin_ranking_loss(a, b, y, margin=0.1).backward()
        return run, n * 4 * 3
    W["margin_ranking_fwd_bwd_4M"] = ranking()
    def rows(fn, N=2048, C=1000, target="index"):
        x = torch.randn(N, C, generator=g).requires_grad_(True)
        t = torch.randint(0, C, (N,), generator=g) if target == "index" else torch.randint(0, 2, (N, C), generator=g).float()
        def run():
            x.grad = None
            fn(x, t).backward()
        return run, N * C * 4
    W["multi_margin_fwd_bwd_2048x1000"] = rows(F.multi_margin_loss)
    W["multilabel_soft_margin_fwd_bwd_2048x1000"] = rows(F.multilabel_soft_margin_loss, target="multi")
    def embed_pairs(fn, N=4096, D=512, k=2):
        xs = [torch.randn(N, D, generator=g).requires_grad_(True) for _ in range(k)]
        extra = torch.randint(0, 2, (N,), generator=g).float() * 2 - 1
        def run():
            for x in xs:
                x.grad = None
            fn(*xs, extra).backward() if k == 2 else fn(*xs).backward()
        return run, N * D * 4 * k
    W["cosine_embedding_fwd_bwd_4096x512"] = embed_pairs(F.cosine_embedding_loss)
    W["triplet_margin_fwd_bwd_4096x512"] = embed_pairs(F.triplet_margin_loss, k=3)
    def ctc(T=100, N=16, C=32, S=30):
        lp = torch.randn(T, N, C, generator=g).log_softmax(2).detach().requires_grad_(True)
        tg = torch.randint(1, C, (N, S), generator=g)
        il = torch.full((N,), T, dtype=torch.long); tl = torch.randint(10, S + 1, (N,), generator=g)
        def run():
            lp.grad = None
            F.ctc_loss(lp, tg, il, tl).backward()
        return run, None
    W["ctc_fwd_bwd_T100_N16_C32_S30"] = ctc()
    def lce(N=2048, D=256, C=32768, chunked=True):
        x = torch.randn(N, D, generator=g).requires_grad_(True)
        w = (torch.randn(C, D, generator=g) * 0.05).requires_grad_(True)
        t = torch.randint(0, C, (N,), generator=g)
        from torch.nn.modules.linear_cross_entropy_options import LinearCrossEntropyOptions
        o = LinearCrossEntropyOptions() if chunked else None
        def run():
            x.grad = None; w.grad = None
            F.linear_cross_entropy(x, w, t, options=o).backward()
        return run, None
    W["linear_ce_fwd_bwd_2048x256x32768"] = lce()
    W["linear_ce_unfused_fwd_bwd_2048x256x32768"] = lce(chunked=False)
    def gradient_penalty():
        torch.manual_seed(0)
        m = torch.nn.Sequential(torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 1))
        x = torch.randn(128, 256, generator=g).requires_grad_(True)
        def run():
            m.zero_grad(); x.grad = None
            out = m(x).sum()
            (gx,) = torch.autograd.grad(out, x, create_graph=True)
            ((gx.norm(2, dim=1) - 1) ** 2).mean().backward()
        return run, None
    W["gradient_penalty_step_mlp_b128"] = gradient_penalty()
    def cnn_digits():
        torch.manual_seed(0)
        nn_ = torch.nn
        m = nn_.Sequential(nn_.Conv2d(1, 8, 3, padding=1), nn_.BatchNorm2d(8), nn_.ReLU(), nn_.MaxPool2d(2),
                           nn_.Conv2d(8, 16, 3, padding=1), nn_.BatchNorm2d(16), nn_.ReLU(), nn_.AvgPool2d(2),
                           nn_.Flatten(), nn_.Linear(64, 32), nn_.Tanh(), nn_.LayerNorm(32), nn_.Dropout(0.1), nn_.Linear(32, 10))
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        x = torch.randn(64, 1, 8, 8, generator=g); t = torch.randint(0, 10, (64,), generator=g)
        def run():
            opt.zero_grad()
            F.cross_entropy(m(x), t).backward()
            opt.step()
        return run, None
    W["cnn_digits_train_step_b64"] = cnn_digits()
    def save_load(nbytes=256 << 20):
        import os, tempfile
        from safetensors.torch import save_file, load_file
        sd = {f"layer{i}.weight": torch.randn(nbytes // 4 // 16, generator=g) for i in range(16)}
        path = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        def run():
            save_file(sd, path)
            load_file(path)
        return run, nbytes
    try:
        import safetensors  # noqa: F401
        W["safetensors_save_load_256MiB"] = save_load()
    except ImportError:
        pass

    def copy_floor(nbytes):
        n = nbytes // 4
        a = torch.randn(n); b = torch.empty(n)
        return bench(lambda: b.copy_(a))
    return W, copy_floor

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--only", default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    W, copy_floor = workloads()
    res = {}
    for name, (fn, nbytes) in W.items():
        if a.only and a.only not in name:
            continue
        ms = bench(fn)
        floor = copy_floor(nbytes) if nbytes else None
        res[name] = {"ms": ms, "copy_ms": floor}
        if not a.json:
            print(f"{name:34s} {ms:10.3f} ms" + (f"   copy of the input bytes: {floor:.3f} ms" if floor else ""), flush=True)
    if a.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "results": res}))
