"""Shared fixtures: synthetic long-tailed data and one small CNN trained once per test run."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

NUM_CLASSES = 6
SHAPE = (1, 12, 12)
TRAIN_COUNTS = [200, 126, 79, 50, 31, 20]  # lt_counts(200, 10, 6)
EPS = 0.1

# One intra-op thread: the same floating-point reductions (so the same attack trajectories) on
# every machine, and no oversubscription slow-down when other processes share the cores.
torch.set_num_threads(1)


def synthetic(
    counts: list[int], seed: int, noise: float = 0.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class prototypes (fixed, seed 1234) plus Gaussian noise, clamped to [0, 1].

    Returns x (N x 1 x 12 x 12) and y (N), classes in order.
    """
    protos = torch.rand((NUM_CLASSES, *SHAPE), generator=torch.Generator().manual_seed(1234))
    gen = torch.Generator().manual_seed(seed)
    y = torch.cat([torch.full((c,), k, dtype=torch.int64) for k, c in enumerate(counts)])
    x = protos[y] + noise * torch.randn((len(y), *SHAPE), generator=gen)
    return x.clamp(0, 1), y


@pytest.fixture(scope="session")
def lt_train() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic(TRAIN_COUNTS, seed=1)


@pytest.fixture(scope="session")
def balanced_test() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic([40] * NUM_CLASSES, seed=2)


@pytest.fixture(scope="session")
def trained_cnn(lt_train) -> torch.nn.Module:
    """test_cnn adversarially trained (PGD-3, eps 0.1) for a few epochs: robust accuracy is
    neither 0 nor 100%, so attacks can be told apart."""
    from ltrobust.attacks import CrossEntropy, IterativeAttack, ThreatModel
    from ltrobust.models import create_model

    torch.manual_seed(0)
    model = create_model("test_cnn", num_classes=NUM_CLASSES, in_channels=1, input_size=12)
    x, y = lt_train
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    attack = IterativeAttack(ThreatModel("linf", EPS), CrossEntropy(), steps=3, step_size=0.04)
    gen = torch.Generator().manual_seed(0)
    for _ in range(8):
        order = torch.randperm(len(y), generator=gen)
        for s in range(0, len(y), 64):
            idx = order[s : s + 64]
            x_adv = attack(model, x[idx], y[idx], generator=gen)
            model.train()
            loss = F.cross_entropy(model(torch.cat([x[idx], x_adv])), torch.cat([y[idx], y[idx]]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def save_audit_set(folder, balanced_test, name: str = "test.pt", counts: bool = True):  # noqa: ANN001
    """Every 4th sample of ``balanced_test`` (60) as a ``tensors:`` file ``folder/name`` and,
    with ``counts``, the training counts in ``folder/counts.json``; returns the file's path."""
    import json

    x, y = balanced_test
    path = folder / name
    torch.save({"x": x[::4].clone(), "y": y[::4].clone()}, path)
    if counts:
        (folder / "counts.json").write_text(json.dumps(TRAIN_COUNTS))
    return path


def save_test_cnn(path, model) -> None:  # noqa: ANN001
    """Save a ``test_cnn`` (1x12x12 inputs, NUM_CLASSES classes) as an ltrobust checkpoint."""
    from ltrobust.models import save_checkpoint

    save_checkpoint(
        path,
        model,
        arch="test_cnn",
        model_args={"num_classes": NUM_CLASSES, "in_channels": 1, "input_size": 12},
        input_spec={"channels": 1, "size": 12, "mean": None, "std": None},
        num_classes=NUM_CLASSES,
        class_counts=TRAIN_COUNTS,
    )
