#!/usr/bin/python3
"""The Python side of bench/compare_train.sh: the same model, data, batch size,
optimizer (the dataset's recipe: Adam 2e-3 for MNIST, SGD 0.05 with momentum 0.9 and
weight decay 5e-4 for CIFAR-10), per-batch normalisation and thread count as
bench_train, in the fastest plain-PyTorch form (whole split in memory as uint8, index
batches). --arch=mnist_cnn|cifar_cnn|resnet18 picks the model (tests/python's twins of
wmark's; the dataset follows: MNIST, else CIFAR-10 from data_dir/cifar-10-batches-bin).
With --layout-tuned it also applies what wmark's loop does beyond plain PyTorch
(channels-last layout, and for mnist_cnn max-pool before ReLU), to show what the layout
alone is worth.
With --profile=TRACE the autograd profiler records the training into that Chrome trace
(bench/profile_ops.py sums it per op, beside bench_train's). With --torchscript=PATH it also saves the trained model as TorchScript (a victim trained
outside wmark for bench/forge_claims.sh), --seed=N sets its initialisation and order.
Usage: train_python.py [epochs=2] [threads=2] [batch=64] [data_dir] [samples=0 (all)] [--arch=NAME]
                       [--layout-tuned] [--torchscript=PATH] [--seed=N]
data_dir is the folder holding the dataset's folder (MNIST: mnist/)."""
import gzip
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "python"))
from architectures import CifarCnn, ResNet18  # noqa: E402


def read_idx(path, offset):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)[offset:]


class MnistCnn(nn.Module):
    def __init__(self, hidden=256, pool_first=False):
        super().__init__()
        self.pool_first = pool_first
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        self.fc1 = nn.Linear(64 * 4 * 4, hidden)
        self.fc2 = nn.Linear(hidden, 10)

    def forward(self, x):
        if self.pool_first:
            x = F.relu(F.max_pool2d(self.conv1(x), 2), inplace=True)
            x = F.relu(F.max_pool2d(self.conv2(x), 2), inplace=True)
        else:
            x = F.max_pool2d(F.relu(self.conv1(x), inplace=True), 2)
            x = F.max_pool2d(F.relu(self.conv2(x), inplace=True), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1)), inplace=True))


def read_cifar10(folder):
    """The five training batches: uint8 [50000, 3, 32, 32] and int64 labels."""
    records = []
    for i in range(1, 6):
        path = os.path.join(folder, f"data_batch_{i}.bin")
        if not os.path.exists(path):
            path += ".gz"
        records.append(read_idx(path, 0).view(-1, 3073))
    records = torch.cat(records)
    return records[:, 1:].reshape(-1, 3, 32, 32).contiguous(), records[:, 0].long()


def main():
    tuned = "--layout-tuned" in sys.argv
    named = dict(a[2:].split("=", 1) for a in sys.argv if a.startswith("--") and "=" in a)
    sys.argv = [a for a in sys.argv if not a.startswith("--")]
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    data_dir = sys.argv[4] if len(sys.argv) > 4 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
    samples = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    arch = named.get("arch", "mnist_cnn")
    torch.set_num_threads(threads)
    torch.manual_seed(int(named.get("seed", 0)))
    if arch == "mnist_cnn":
        folder = os.path.join(data_dir, "mnist")
        images = read_idx(os.path.join(folder, "train-images-idx3-ubyte.gz"), 16).view(-1, 1, 28, 28)
        labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte.gz"), 8).long()
        model = MnistCnn(pool_first=tuned)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.002)
        mean, std = torch.tensor([0.1307]), torch.tensor([0.3081])
    elif arch in ("cifar_cnn", "resnet18"):
        images, labels = read_cifar10(os.path.join(data_dir, "cifar-10-batches-bin"))
        model = CifarCnn() if arch == "cifar_cnn" else ResNet18()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        mean, std = torch.tensor([0.4914, 0.4822, 0.4465]), torch.tensor([0.2470, 0.2435, 0.2616])
    else:
        sys.exit("unknown --arch " + arch)
    if 0 < samples < images.shape[0]:  # throughput does not depend on which images
        images, labels = images[:samples].clone(), labels[:samples].clone()
    if tuned:
        model = model.to(memory_format=torch.channels_last)
    # x * scale + shift == (x / 255 - mean) / std, per channel.
    scale = (1.0 / (255 * std)).view(1, -1, 1, 1)
    shift = (-mean / std).view(1, -1, 1, 1)
    n = images.shape[0]
    rates = []
    profiler = torch.autograd.profiler.profile() if "profile" in named else None
    if profiler:
        profiler.__enter__()
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(n)
        start = time.perf_counter()
        for begin in range(0, n - 1, batch):
            index = order[begin:begin + batch]
            x = images.index_select(0, index).float().mul_(scale).add_(shift)
            if tuned:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels.index_select(0, index)
            loss = F.cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds = time.perf_counter() - start
        rates.append(n / seconds)
        print(f"python epoch {epoch}: {n / seconds:.1f} samples/s, {seconds:.2f} s")
    if profiler:
        profiler.__exit__(None, None, None)
        profiler.export_chrome_trace(named["profile"])
    print(f"python arch={arch} threads={torch.get_num_threads()} batch={batch} samples={n}")
    print(f"python_samples_per_second={sum(rates) / len(rates):.1f}")
    if "torchscript" in named:
        model.eval()
        torch.jit.script(model).save(named["torchscript"])
        print(f"python torchscript={named['torchscript']}")


if __name__ == "__main__":
    main()
