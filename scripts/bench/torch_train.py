"""Reference for scripts/bench-train.sh: PyTorch (and Opacus) training throughput of the same MLP.

Prints one JSON object: samples/s for plain SGD and, if Opacus imports, DP-SGD, at the given thread count.
"""
import gzip, json, sys, time

import numpy as np
import torch

def load(directory, prefix):
    with gzip.open(f"{directory}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255
    with gzip.open(f"{directory}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(images), torch.from_numpy(labels)

def model():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))

def plain(x, y, batch, steps):
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(len(x))
    def run(n):
        for s in range(n):
            idx = perm[(s * batch) % (len(x) - batch):][:batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
    run(20)
    start = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - start)

def private(x, y, batch, steps):
    try:
        from opacus import GradSampleModule
    except Exception as error:  # not installed or incompatible
        return None, str(error)
    net = GradSampleModule(model())
    opt_inner = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    from opacus.optimizers import DPOptimizer
    opt = DPOptimizer(opt_inner, noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=batch)
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(len(x))
    def run(n):
        for s in range(n):
            idx = perm[(s * batch) % (len(x) - batch):][:batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
    run(10)
    start = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - start), None

if __name__ == "__main__":
    directory, threads, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    dp_steps = int(sys.argv[5]) if len(sys.argv) > 5 else max(steps // 4, 50)
    torch.set_num_threads(threads)
    x, y = load(directory, "train")
    out = {"threads": threads, "torch": torch.__version__, "torch_samples_per_s": round(plain(x, y, batch, steps), 1)}
    if dp_steps > 0:
        dp, why = private(x, y, batch, dp_steps)
        out["opacus_samples_per_s"] = round(dp, 1) if dp else None
        if why:
            out["opacus_error"] = why[:200]
    print(json.dumps(out))
