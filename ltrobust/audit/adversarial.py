"""``--save-adv``: the adversarial images of an audit, kept to look at or to reuse.

An :class:`AdversarialKeeper` receives every attacked batch of the chosen attacks (from
:class:`ltrobust.audit.passes.AttackPass`) and keeps only what will be saved: every image of
the chosen attacks (``all`` or attack names), or, for ``worst``, the image of the first attack
(in run order) that broke each sample its clean prediction got right: at most one image per
sample. :meth:`AdversarialKeeper.save` writes one safetensors file:

- ``x``: float32 ``M x C x H x W`` adversarial images in [0, 1];
- ``indices``: int64 ``M``, each image's sample index in the dataset (as in the report);
- ``attack``: int64 ``M``, the position in the metadata's ``attacks`` list of the attack
  that made it; ``label`` and ``pred``: the true class and the audited model's prediction.

The metadata holds ``attacks`` (JSON list), ``mode`` and ``format`` (``ltrobust-adversarial``).
Batches reused from a resume cache were not attacked again: their images are not in the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import torch

from ltrobust.errors import DataError, OutputError

#: a batch handed over: (positions in audit order, adversarial images, predictions)
Sink = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]
FORMAT = "ltrobust-adversarial"


class AdversarialKeeper:
    """Keeps the adversarial images ``--save-adv`` asked for (see the module doc).

    Args:
        mode: ``["all"]``, ``["worst"]`` or attack names.
        attacks: every attack of the audit, in run order.
        y: the labels, in audit order; indices: their dataset indices.
    """

    def __init__(
        self, mode: list[str], attacks: list[str], y: torch.Tensor, indices: torch.Tensor
    ) -> None:
        self.mode = "worst" if mode == ["worst"] else "all" if mode == ["all"] else "attacks"
        self.attacks = (
            list(attacks) if self.mode != "attacks" else [a for a in attacks if a in mode]
        )
        self.y, self.indices = y.cpu(), indices.cpu()
        self.taken = torch.zeros(len(y), dtype=torch.bool)  # worst: a sample already kept
        self.parts: list[tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def clean(self, pred: torch.Tensor) -> None:
        """The clean predictions: a sample misclassified without attack has no worst image."""
        self.taken |= pred.cpu() != self.y

    def sink(self, label: str) -> Sink | None:
        """What the attack pass ``label`` hands its batches to, or None if none are kept."""
        if label not in self.attacks:
            return None
        code = self.attacks.index(label)

        def keep(pos: torch.Tensor, x_adv: torch.Tensor, pred: torch.Tensor) -> None:
            pos, x_adv, pred = pos.cpu(), x_adv.detach().float().cpu(), pred.cpu()
            if self.mode == "worst":
                new = (pred != self.y[pos]) & ~self.taken[pos]
                self.taken[pos[new]] = True
                pos, x_adv, pred = pos[new], x_adv[new], pred[new]
            if len(pos):
                self.parts.append((code, pos, x_adv.clone(), pred))

        return keep

    def tensors(self) -> dict[str, torch.Tensor]:
        """The file's tensors (see the module doc), ordered by attack then audit position."""
        parts = sorted(self.parts, key=lambda p: (p[0], int(p[1][0])))
        pos = torch.cat([p[1] for p in parts]) if parts else torch.zeros(0, dtype=torch.int64)
        return {
            "x": torch.cat([p[2] for p in parts]).contiguous() if parts else torch.zeros(0),
            "indices": self.indices[pos].to(torch.int64),
            "attack": torch.cat([torch.full((len(p[1]),), p[0]) for p in parts]).to(torch.int64)
            if parts
            else torch.zeros(0, dtype=torch.int64),
            "label": self.y[pos].to(torch.int64),
            "pred": torch.cat([p[3] for p in parts]).to(torch.int64)
            if parts
            else torch.zeros(0, dtype=torch.int64),
        }

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the safetensors file ``path`` (raises :class:`OutputError` if it cannot)."""
        try:
            from safetensors.torch import save_file
        except ImportError:
            raise OutputError(
                "--save-adv needs safetensors: pip install 'ltrobust[formats]'"
            ) from None
        meta = {"format": FORMAT, "mode": self.mode, "attacks": json.dumps(self.attacks)}
        try:
            save_file(self.tensors(), str(path), metadata=meta)
        except OSError as exc:
            raise OutputError(f"--save-adv: cannot write {path} ({exc.strerror})") from None


def load_adversarial(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The tensors of a ``--save-adv`` file and the names of its attacks."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("format") != FORMAT:
        raise DataError(f"{path}: not an ltrobust --save-adv file")
    return load_file(str(path)), list(json.loads(meta["attacks"]))
