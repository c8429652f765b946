"""Training checkpoints: ``last.pt`` (every epoch, with the resume state) and ``final.pt``
(and, with ``--save-format safetensors``, the same as ``final.safetensors``).

Both are ordinary ltrobust checkpoints (:func:`ltrobust.models.save_checkpoint`): arch,
model_args (head settings included), input spec, dataset, class counts, method and its full
config, the logit adjustment and the history, so ``ltrobust audit FILE`` needs no flags.
``extra["training"]`` records how the run went (processes, device, AMP dtype, epochs, seconds)
and ``extra["adv_counts"]`` the E x C x C (true, predicted) counts of the training adversarial
examples. ``last.pt`` adds ``extra["resume"]``: epoch, optimizer, scheduler, grad scaler,
method state (REAT's counts, the weights of AFR's last regeneration), the RNG states of every
process (uint8 tensors) and ``outputs`` (the run options that decide which files the run writes:
``save_format``), all readable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ltrobust.errors import ConfigError, ModelLoadError
from ltrobust.models import FORMAT_NAME, save_checkpoint
from ltrobust.models.safetensors_io import save_safetensors_checkpoint
from ltrobust.train.config import TrainConfig


def rng_state(generator: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The training generator's and torch's global (CPU and, on CUDA, device) RNG states."""
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(
    state: dict[str, torch.Tensor], generator: torch.Generator, device: torch.device
) -> None:
    """Restore :func:`rng_state` output (a CUDA state only when running on CUDA)."""
    generator.set_state(state["generator"].to(torch.uint8))
    torch.set_rng_state(state["torch"].to(torch.uint8))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].to(torch.uint8), device)


@dataclass
class CheckpointInfo:
    """What a training checkpoint says about the data and the model."""

    arch: str
    model_args: dict[str, Any]
    shape: tuple[int, int, int]
    class_counts: list[int]
    class_names: list[str]


@dataclass
class ResumeState:
    """Everything read back from a ``last.pt`` to continue a run."""

    config: TrainConfig
    epoch: int
    state_dict: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    rng: list[dict[str, torch.Tensor]]
    method: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    adv_counts: list[torch.Tensor] = field(default_factory=list)
    seconds: float = 0.0
    #: the run options that decide which files the run writes (``save_format``); a
    #: ``last.pt`` written before they were stored has none: the defaults apply
    outputs: dict[str, Any] = field(default_factory=dict)


def save_training_checkpoint(
    path: Path,
    net: torch.nn.Module,
    *,
    config: TrainConfig,
    info: CheckpointInfo,
    logit_adjustment: list[float] | None,
    history: list[dict[str, Any]],
    extra: dict[str, Any],
    file_format: str = "pt",
) -> None:
    """Write an ltrobust checkpoint of the bare network ``net`` atomically (``file_format``
    ``safetensors``: as a safetensors file, metadata in its header)."""
    channels, size, _ = info.shape
    save = save_checkpoint if file_format == "pt" else save_safetensors_checkpoint
    save(
        path,
        net,
        arch=info.arch,
        model_args=info.model_args,
        input_spec={"channels": channels, "size": size, "mean": None, "std": None},
        num_classes=len(info.class_counts),
        dataset=config.dataset,
        class_counts=info.class_counts,
        class_names=info.class_names,
        method=config.method,
        method_config=config.to_dict(),
        logit_adjustment=logit_adjustment,
        history=history,
        extra=extra,
    )


def _read(path: Path, what: str = "--resume") -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{what}: checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many types for corrupt or foreign files
        reason = " ".join(str(exc).split())[:120]
        raise ModelLoadError(f"cannot read {path}: {type(exc).__name__}: {reason}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT_NAME:
        raise ConfigError(f"{what}: {path} is not an ltrobust training checkpoint")
    return obj


def read_init(path: Path) -> dict[str, Any]:
    """An ltrobust checkpoint to start from (AFR's ``--init``): ``arch``, ``num_classes``,
    ``class_counts``, ``model_args`` and ``state_dict``; ConfigError / ModelLoadError if
    missing, unreadable or not an ltrobust checkpoint."""
    ckpt = _read(Path(path), "--init")
    return {k: ckpt.get(k) for k in ("arch", "num_classes", "class_counts", "model_args")} | {
        "state_dict": ckpt["state_dict"]
    }


def read_resume(path: Path) -> ResumeState:
    """Read a ``last.pt`` written by the training loop (weights-only unpickling).

    Raises:
        ConfigError / ModelLoadError: missing or unreadable file, or a file without the
            resume state (e.g. a ``final.pt`` or a checkpoint from elsewhere).
    """
    ckpt = _read(path)
    extra = ckpt.get("extra") or {}
    resume = extra.get("resume")
    if not isinstance(resume, dict) or not isinstance(ckpt.get("method_config"), dict):
        raise ConfigError(f"--resume: {path} holds no resume state; pass the run's last.pt")
    counts = extra.get("adv_counts")
    return ResumeState(
        config=TrainConfig.from_dict(ckpt["method_config"]),
        epoch=int(resume["epoch"]),
        state_dict=ckpt["state_dict"],
        optimizer=resume["optimizer"],
        scheduler=resume["scheduler"],
        scaler=resume.get("scaler") or {},
        rng=list(resume["rng"]),
        method=resume.get("method") or {},
        history=list(ckpt.get("history") or []),
        adv_counts=list(counts.unbind(0)) if isinstance(counts, torch.Tensor) else [],
        seconds=float((extra.get("training") or {}).get("seconds", 0.0)),
        outputs=_outputs(resume.get("outputs"), path),
    )


def _outputs(stored: Any, path: Path) -> dict[str, Any]:
    """The stored output options of a ``last.pt`` (none in older files), checked."""
    from ltrobust.train.config import SAVE_FORMATS

    outputs = dict(stored) if isinstance(stored, dict) else {}
    save_format = outputs.get("save_format")
    if save_format is not None and save_format not in SAVE_FORMATS:
        raise ConfigError(f"--resume: {path} stores an unknown save format {save_format!r}")
    return outputs


def resume_extra(
    epoch: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    rng: list[dict[str, torch.Tensor]],
    method_state: dict[str, Any],
    outputs: dict[str, Any],
) -> dict[str, Any]:
    """The ``extra["resume"]`` entry of ``last.pt`` (``outputs``: the run options that decide
    which files the run writes, kept by a resumed run)."""
    return {
        "epoch": epoch,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng,
        "method": method_state,
        "outputs": outputs,
    }


def load_scheduler(scheduler: torch.optim.lr_scheduler.LambdaLR, state: dict) -> None:
    """Restore the epoch count of a LambdaLR (its factors come from the configuration; the
    ``milestones`` and ``gamma`` of checkpoints written with a MultiStepLR are ignored)."""
    keep = {k: v for k, v in state.items() if k not in ("milestones", "gamma", "lr_lambdas")}
    scheduler.load_state_dict({**keep, "lr_lambdas": [None] * len(scheduler.lr_lambdas)})
