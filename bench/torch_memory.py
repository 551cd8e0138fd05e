#!/usr/bin/python3
"""PyTorch side of bench/memory.sh: runs what `engine time` or `engine train` runs, on the nets of
bench/torch_nets.py (same layer shapes), so that bench/memory.sh can read the peak resident memory
of the process. Prints nothing; the caller measures the process from outside.

    bench/torch_memory.py NET fwdbwd ITERATIONS THREADS
        one warm-up and ITERATIONS forward+backward passes (gradients kept between passes,
        zero_grad(set_to_none=False)), as `engine time` does
    bench/torch_memory.py NET train ITERATIONS THREADS
        ITERATIONS training steps: forward, backward, SGD with momentum 0.9 and weight decay
        (momentum buffers for every parameter, as the engine's SGD history)
    bench/torch_memory.py NET train-test ITERATIONS THREADS
        the same, with an evaluation pass (eval mode, no_grad, one batch) every 2 iterations and at
        the end, as `engine train` with a TEST net and test_interval 2 does

Needs Debian's python3-torch; nothing in the engine or its tests needs it.
"""
import sys

import torch
import torch.nn.functional as F

from torch_nets import NETS


def main():
    name, mode, iterations, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(1701)
    make, shape, classes = NETS[name]
    model = make().train()
    x = torch.randn(*shape)
    labels = torch.randint(0, classes, (shape[0],))
    if mode == "fwdbwd":
        for _ in range(iterations + 1):  # one warm-up, as engine time does
            model.zero_grad(set_to_none=False)
            F.cross_entropy(model(x), labels).backward()
        return
    if mode not in ("train", "train-test"):
        raise SystemExit(f"unknown mode {mode}; expected fwdbwd, train or train-test")
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=0.0005)
    test_x = torch.randn(*shape)
    test_labels = torch.randint(0, classes, (shape[0],))

    def test():
        model.eval()
        with torch.no_grad():
            out = model(test_x)
            F.cross_entropy(out, test_labels).item()
            (out.argmax(1) == test_labels).float().mean().item()
        model.train()

    for it in range(iterations):
        opt.zero_grad(set_to_none=False)
        F.cross_entropy(model(x), labels).backward()
        opt.step()
        if mode == "train-test" and (it + 1) % 2 == 0:
            test()
    if mode == "train-test" and iterations % 2 != 0:
        test()


if __name__ == "__main__":
    main()
