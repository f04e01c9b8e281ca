"""A small CNN in PyTorch on scikit-learn's digits, upsampled to 32x32, with Keras-style output.

The trainer of the motivating example (``hyper bayesian ... -- python cifar10_cnn.py ...``), made
to run offline: two convolution blocks in the shape of Keras' cifar10_cnn example, the second with
a tunable filter count (``--conv2_filter``) and kernel size (``--conv2_kernel``), then a dense layer
of ``--dense_layer`` units and dropout ``--dropout_3``. Each epoch prints Keras-like lines::

    Epoch 3/25
    1437/1437 [=====...=====] - 2s - loss: 0.4120 - acc: 0.8730 - val_loss: 0.5 - val_acc: 0.8230

so a search reads ``val_acc`` (or ``keras/val_acc``) from its output. It runs on the GPU that
``CUDA_VISIBLE_DEVICES`` names when there is one, else on the CPU (``--epochs 2 --limit 400`` is a
quick check of a few seconds).

Started by ``torchrun`` (``WORLD_SIZE`` > 1) it trains data-parallel (DistributedDataParallel,
NCCL on GPUs, else Gloo): each process takes its share of every epoch's shuffled samples and
the gradients are averaged, so all processes hold the same weights; the first process of every
node (``LOCAL_RANK`` 0) prints the progress and validation lines, so whichever node's output a
search reads carries ``val_acc`` (examples/k8s/ddp-jobset.yaml).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

try:
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual PyTorch spelling
    from torch import nn
except ImportError:  # a trial's last log lines are all a user sees of it: name the fix
    print(
        f"train.py: PyTorch is not installed in this Python ({sys.executable}); install it "
        "with `make torch` from the repository root (a CUDA build of several GB), or "
        "`pip install torch`",
        file=sys.stderr,
    )
    sys.exit(2)

BAR_WIDTH = 30


class DigitsCNN(nn.Module):
    """conv-conv-pool-dropout twice, then dense-dropout-softmax (Keras' cifar10_cnn layout)."""

    def __init__(self, conv2_filter: int, conv2_kernel: int, dense_layer: int, dropout_3: float):
        super().__init__()
        low, high = (conv2_kernel - 1) // 2, conv2_kernel // 2
        self.block1 = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        )
        self.block2 = nn.Sequential(
            # "same" padding, spelled out so even kernels pad one more on the right and bottom
            nn.ZeroPad2d((low, high, low, high)),
            nn.Conv2d(32, conv2_filter, conv2_kernel),
            nn.ReLU(),
            nn.Conv2d(conv2_filter, conv2_filter, conv2_kernel),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        )
        # 32 -> 30 (valid 3x3) -> 15 (pool) -> 16 - k (valid kxk) -> (16 - k) // 2 (pool)
        side = (16 - conv2_kernel) // 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(conv2_filter * side * side, dense_layer),
            nn.ReLU(),
            nn.Dropout(dropout_3),
            nn.Linear(dense_layer, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block2(self.block1(x)))


def load(limit: int | None, seed: int) -> tuple[torch.Tensor, ...]:
    """Digits as 1x32x32 images in [0, 1], split 80/20 (stratified) into train and validation."""
    x, y = load_digits(return_X_y=True)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    images = torch.tensor(x.reshape(-1, 1, 8, 8) / 16.0, dtype=torch.float32)
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    labels = torch.tensor(y, dtype=torch.long)
    index = np.arange(len(labels))
    train, val = train_test_split(index, test_size=0.2, random_state=seed, stratify=y)
    return images[train], labels[train], images[val], labels[val]


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(F.cross_entropy(logits, y))
        acc = float((logits.argmax(1) == y).float().mean())
    return loss, acc


def distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank) under torchrun, (0, 1, 0) otherwise; joins the group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    local = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    torch.distributed.init_process_group(backend)
    return torch.distributed.get_rank(), world, local


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--conv2_filter", type=int, default=64)
    parser.add_argument("--conv2_kernel", type=int, default=3)
    parser.add_argument("--dense_layer", type=int, default=512)
    parser.add_argument("--dropout_3", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--limit", type=int, help="use only the first N digits (quick checks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu, cuda")
    args = parser.parse_args()
    if not 2 <= args.conv2_kernel <= 8:
        parser.error(f"--conv2_kernel must be between 2 and 8, got {args.conv2_kernel}")

    rank, world, local = distributed()
    torch.manual_seed(args.seed)  # the same shuffles and initial weights in every process
    device = torch.device(
        (f"cuda:{local}" if torch.cuda.is_available() else "cpu")
        if args.device == "auto"
        else args.device
    )
    x_train, y_train, x_val, y_val = (t.to(device) for t in load(args.limit, args.seed))
    net = DigitsCNN(args.conv2_filter, args.conv2_kernel, args.dense_layer, args.dropout_3)
    net.to(device)
    model: nn.Module = net
    if world > 1:
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[local] if device.type == "cuda" else None
        )
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    # Every process runs the same number of steps (DDP averages each step across them).
    n = len(y_train) // world

    def say(*parts: object, end: str = "\n") -> None:
        if local == 0:  # one copy of the output per node
            print(*parts, end=end, flush=True)

    where = f"{device}, rank {rank} of {world}" if world > 1 else str(device)
    say(f"Train on {n} samples, validate on {len(y_val)} samples ({where})")
    for epoch in range(1, args.epochs + 1):
        say(f"Epoch {epoch}/{args.epochs}")
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(y_train), device=device)[: n * world][rank::world]
        seen, loss_sum, correct = 0, 0.0, 0
        for first in range(0, n, args.batch_size):
            batch = order[first : first + args.batch_size]
            logits = model(x_train[batch])
            loss = F.cross_entropy(logits, y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += len(batch)
            loss_sum += loss.item() * len(batch)
            correct += int((logits.argmax(1) == y_train[batch]).sum())
            done = BAR_WIDTH * seen // n
            bar = "=" * max(done - 1, 0) + (">" if done < BAR_WIDTH else "=")
            line = (
                f"{seen}/{n} [{bar:<{BAR_WIDTH}}] - loss: {loss_sum / seen:.4f}"
                f" - acc: {correct / seen:.4f}"
            )
            if seen < n:
                say(line, end="\r")
        val_loss, val_acc = evaluate(net, x_val, y_val)
        seconds = time.perf_counter() - start
        say(
            f"{n}/{n} [{'=' * BAR_WIDTH}] - {seconds:.0f}s - loss: {loss_sum / n:.4f}"
            f" - acc: {correct / n:.4f} - val_loss: {val_loss:.4f} - val_acc: {val_acc:.4f}"
        )
    if world > 1:
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
