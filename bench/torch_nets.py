#!/usr/bin/python3
"""PyTorch reference for bench/nets.sh: the same nets as nets/*/ (same layer shapes, Caffe's
ceil-mode pooling, LRN, groups, ResNet-50 with the stride on the first 1x1 as in Caffe's file),
timed forward+backward per iteration on random data.

    bench/torch_nets.py NET ITERATIONS THREADS   ->  prints one line: "NET median_ms min_ms"
    bench/torch_nets.py train ITERATIONS THREADS ->  LeNet training on Fashion-MNIST: "train images_per_s"

Needs Debian's python3-torch; nothing in the engine or its tests needs it.
"""
import gzip
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.ip1 = nn.Linear(800, 500)
        self.ip2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(self.conv1(x * 0.00390625), 2, 2)
        x = F.max_pool2d(self.conv2(x), 2, 2)
        x = F.relu(self.ip1(x.flatten(1)))
        return self.ip2(x)


class CifarQuick(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2)
        self.ip1 = nn.Linear(64 * 4 * 4, 64)
        self.ip2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.avg_pool2d(F.relu(self.conv3(x)), 3, 2, ceil_mode=True)
        return self.ip2(self.ip1(x.flatten(1)))


class AlexNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 96, 11, stride=4)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2, groups=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1, groups=2)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1, groups=2)
        self.fc6 = nn.Linear(256 * 6 * 6, 4096)
        self.fc7 = nn.Linear(4096, 4096)
        self.fc8 = nn.Linear(4096, 1000)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def forward(self, x):
        x = F.max_pool2d(self.lrn(F.relu(self.conv1(x))), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.lrn(F.relu(self.conv2(x))), 3, 2, ceil_mode=True)
        x = F.relu(self.conv4(F.relu(self.conv3(x))))
        x = F.max_pool2d(F.relu(self.conv5(x)), 3, 2, ceil_mode=True)
        x = F.dropout(F.relu(self.fc6(x.flatten(1))), 0.5, self.training)
        x = F.dropout(F.relu(self.fc7(x)), 0.5, self.training)
        return self.fc8(x)


class Bottleneck(nn.Module):
    def __init__(self, cin, mid, cout, stride):
        super().__init__()
        # Caffe's ResNet-50: the stride sits on the first 1x1 (branch2a) and on the projection.
        self.a = nn.Conv2d(cin, mid, 1, stride=stride, bias=False)
        self.bna = nn.BatchNorm2d(mid)
        self.b = nn.Conv2d(mid, mid, 3, padding=1, bias=False)
        self.bnb = nn.BatchNorm2d(mid)
        self.c = nn.Conv2d(mid, cout, 1, bias=False)
        self.bnc = nn.BatchNorm2d(cout)
        self.proj = None
        if stride != 1 or cin != cout:
            self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bna(self.a(x)))
        y = F.relu(self.bnb(self.b(y)))
        y = self.bnc(self.c(y))
        return F.relu(y + (self.proj(x) if self.proj is not None else x))


class ResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for mid, count, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(count):
                blocks.append(Bottleneck(cin, mid, mid * 4, stride if i == 0 else 1))
                cin = mid * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, ceil_mode=True)
        x = self.blocks(x)
        x = F.avg_pool2d(x, 7, 1)
        return self.fc(x.flatten(1))


NETS = {  # name: (model, input shape, classes)
    "lenet": (LeNet, (64, 1, 28, 28), 10),
    "cifar10_quick": (CifarQuick, (100, 3, 32, 32), 10),
    "alexnet": (AlexNet, (10, 3, 227, 227), 1000),
    "resnet50": (ResNet50, (8, 3, 224, 224), 1000),
}


def read_idx(path):
    """An MNIST-format IDX file (gzipped) as a uint8 tensor."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return torch.frombuffer(bytearray(data[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def train_lenet(iterations):
    """LeNet with Caffe's solver settings on Fashion-MNIST (batch 64, shuffled each epoch); images/s
    from reading the data to the last update."""
    start = time.perf_counter()
    root = "/usr/share/datasets/fashion-mnist/"
    images = read_idx(root + "train-images-idx3-ubyte.gz").float().unsqueeze(1)
    labels = read_idx(root + "train-labels-idx1-ubyte.gz").long()
    model = LeNet().train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
    order = torch.randperm(len(images))
    pos = 0
    for it in range(iterations):
        if pos + 64 > len(images):
            order, pos = torch.randperm(len(images)), 0
        idx = order[pos:pos + 64]
        pos += 64
        for g in opt.param_groups:
            g["lr"] = 0.01 * (1 + 0.0001 * it) ** -0.75
        opt.zero_grad()
        F.cross_entropy(model(images[idx]), labels[idx]).backward()
        opt.step()
    return iterations * 64 / (time.perf_counter() - start)


def main():
    name, iterations, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    torch.set_num_threads(threads)
    torch.manual_seed(1701)
    if name == "train":
        print(f"train {train_lenet(iterations):.1f}")
        return
    make, shape, classes = NETS[name]
    model = make().train()
    x = torch.randn(*shape)
    labels = torch.randint(0, classes, (shape[0],))
    times = []
    for i in range(iterations + 1):  # one warm-up, as engine time does
        start = time.perf_counter()
        model.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), labels)
        loss.backward()
        if i > 0:
            times.append((time.perf_counter() - start) * 1000)
    print(f"{name} {statistics.median(times):.3f} {min(times):.3f}")


if __name__ == "__main__":
    main()
