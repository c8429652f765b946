"""Train the bundled demo checkpoint: PGD-AT (Madry et al.) of small_cnn on Fashion-MNIST-LT.

Reproducible on CPU (fixed seed, deterministic data order) until ``ltrobust train`` exists:

    python scripts/make_demo_checkpoint.py --out checkpoints/small_cnn-at-fmnist-lt.pt

Training set: the METHODS §1 long-tailed subset (IR 50, n_max 6000, seed-0 selection).
Inner maximisation: ltrobust's own PGD (L-inf eps 0.1, step 0.03, 5 steps, random start),
the same attack object the audit evaluates with. Outer loss: CE on the adversarial batch.
SGD momentum 0.9, wd 5e-4, lr x0.1 at 75% and 93.75% of the epochs (METHODS §4).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from ltrobust.attacks import CrossEntropy, IterativeAttack, ThreatModel
from ltrobust.data import load_train_data
from ltrobust.models import create_model, save_checkpoint


def random_crop(x: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop of size HxW from x (N x C x H x W) zero-padded by ``pad``."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :]
    idx_n = torch.arange(n)[:, None, None, None]
    return padded[idx_n, torch.arange(x.shape[1])[None, :, None, None], rows, cols]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="checkpoints/small_cnn-at-fmnist-lt.pt")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--eps", type=float, default=0.1)
    ap.add_argument("--step", type=float, default=0.03)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = load_train_data("fashion-mnist-lt")
    x_all = data.x.float() / 255.0 if data.x.dtype == torch.uint8 else data.x
    y_all = data.y
    model = create_model("small_cnn", num_classes=10, in_channels=1, input_size=28)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=5e-4)
    milestones = [round(0.75 * args.epochs), round(0.9375 * args.epochs)]
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    attack = IterativeAttack(
        ThreatModel("linf", args.eps),
        CrossEntropy(),
        steps=args.steps,
        step_size=args.step,
        name=f"pgd{args.steps}",
    )
    history = []
    for epoch in range(1, args.epochs + 1):
        t0, total, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
        order = torch.randperm(len(y_all), generator=gen)
        for s in range(0, len(order), args.batch_size):
            idx = order[s : s + args.batch_size]
            xb, yb = random_crop(x_all[idx], 2, gen), y_all[idx]
            x_adv = attack(model, xb, yb, generator=gen)
            model.train()
            logits = model(x_adv)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            loss_sum += float(loss.detach()) * len(yb)
        sched.step()
        row = {
            "epoch": epoch,
            "loss": loss_sum / total,
            "train_adv_acc": correct / total,
            "seconds": time.perf_counter() - t0,
        }
        history.append(row)
        print(
            f"epoch {epoch}: loss {row['loss']:.4f} adv acc {row['train_adv_acc']:.3f} "
            f"({row['seconds']:.0f}s)",
            flush=True,
        )
    save_checkpoint(
        args.out,
        model.eval(),
        arch="small_cnn",
        model_args={"num_classes": 10, "in_channels": 1, "input_size": 28},
        input_spec={"channels": 1, "size": 28, "mean": None, "std": None},
        num_classes=10,
        dataset="fashion-mnist-lt",
        class_counts=list(data.class_counts),
        class_names=list(data.class_names),
        method="at",
        method_config={"loss": "ce", "inner": repr(attack), **vars(args)},
        history=history,
    )
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
