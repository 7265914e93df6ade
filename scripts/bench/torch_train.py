"""Reference for scripts/bench-train.sh: PyTorch (and Opacus) training throughput of the same model.

Usage: torch_train.py DATA THREADS BATCH STEPS [DP_STEPS [mlp|cnn]]. Prints one JSON object: samples/s
for plain SGD and, if Opacus imports, DP-SGD, at the given thread count. The models are gossipnode's
mlp:256 and cnn (cnn:16,32:128: two 5x5 convolutions with ReLU and 2x2 max-pooling, a 128-unit layer).
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

ARCHITECTURE = "mlp"

def model():
    torch.manual_seed(1)
    nn = torch.nn
    if ARCHITECTURE == "cnn":
        return nn.Sequential(nn.Unflatten(1, (1, 28, 28)),
                             nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(512, 128), nn.ReLU(), nn.Linear(128, 10))
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))

def samples_per_second(net, opt, x, y, batch, steps, warmup):
    """Times `steps` SGD steps of `batch` examples after `warmup` untimed ones."""
    loss_fn = torch.nn.CrossEntropyLoss()
    perm = torch.randperm(len(x))
    def run(n):
        for s in range(n):
            idx = perm[(s * batch) % (len(x) - batch):][:batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
    run(warmup)
    start = time.perf_counter()
    run(steps)
    return steps * batch / (time.perf_counter() - start)

def plain(x, y, batch, steps):
    net = model()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    return samples_per_second(net, opt, x, y, batch, steps, warmup=20)

def private(x, y, batch, steps):
    try:
        from opacus import GradSampleModule
        from opacus.optimizers import DPOptimizer
    except Exception as error:  # not installed or incompatible
        return None, str(error)
    net = GradSampleModule(model())
    opt = DPOptimizer(torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9),
                      noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=batch)
    return samples_per_second(net, opt, x, y, batch, steps, warmup=10), None

if __name__ == "__main__":
    directory, threads, batch, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    dp_steps = int(sys.argv[5]) if len(sys.argv) > 5 else max(steps // 4, 50)
    ARCHITECTURE = sys.argv[6] if len(sys.argv) > 6 else "mlp"
    torch.set_num_threads(threads)
    x, y = load(directory, "train")
    out = {"model": ARCHITECTURE, "threads": threads, "torch": torch.__version__, "torch_samples_per_s": round(plain(x, y, batch, steps), 1)}
    if dp_steps > 0:
        dp, why = private(x, y, batch, dp_steps)
        out["opacus_samples_per_s"] = round(dp, 1) if dp else None
        if why:
            out["opacus_error"] = why[:200]
    print(json.dumps(out))
