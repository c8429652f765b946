"""The description of a paper's checkpoint format, as data (torch-free); the rows are in
:mod:`ltrobust.models.paper_formats`.

Rename rules are ``(regex, replacement)`` pairs applied in order to every key (``re.sub``); the
replacement :data:`DROP` removes the key and :data:`HEAD` (``@head.``) stands for the head of
the architecture the keys turn out to describe (``linear`` or ``fc``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ltrobust.errors import ConfigError

DROP = "-"
HEAD = "@head."


@dataclass(frozen=True)
class PaperConfig:
    """One way a repository deploys a trained model.

    Attributes:
        name: the value of ``--format-config``.
        head: ``linear``, ``cosine`` (no bias) or ``cosplus`` (cosine + bias).
        scale, gamma: the cosine head's logit scale and weight-norm offset.
        tau: strength of the deployed adjustment ``-tau * ln(pi)`` (0: none).
        keys: regexes that must match a key for this config to apply.
        classes: class counts it is the default for (empty: any).
        default: chosen without ``--format-config`` when ``keys`` and ``classes`` fit.
        unused: regexes of keys the deployed forward pass does not read (dropped).
        source: the file the values were read from.
    """

    name: str
    head: str = "linear"
    scale: float | None = None
    gamma: float = 0.0
    tau: float = 0.0
    keys: tuple[str, ...] = ()
    classes: tuple[int, ...] = ()
    default: bool = True
    unused: tuple[str, ...] = ()
    source: str = ""

    def fits(self, keys: Iterable[str], num_classes: int | None) -> bool:
        """Whether ``keys`` (and the class count, unless None) allow this config."""
        names = list(keys)
        ok = all(any(re.search(p, k) for k in names) for p in self.keys)
        return ok and (not self.classes or num_classes is None or num_classes in self.classes)

    def describe(self) -> dict[str, object]:
        """The config as recorded in a report's provenance."""
        out: dict[str, object] = {"config": self.name, "head": self.head}
        if self.head != "linear":
            out.update(scale=self.scale, gamma=self.gamma)
        out["tau"] = self.tau
        return out


@dataclass(frozen=True)
class PaperFormat:
    """How one repository saves and deploys its models (see the module doc)."""

    name: str
    title: str
    repo: str
    commit: str
    files: tuple[str, ...]
    container: str | None
    required: tuple[tuple[str, str], ...]
    forbidden: tuple[str, ...]
    rules: tuple[tuple[str, str], ...]
    families: tuple[str, ...]
    configs: tuple[PaperConfig, ...]
    normalization: Mapping[int, tuple[tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict
    )
    needs_normalization: bool = False
    notes: tuple[str, ...] = ()

    def config(self, name: str | None, keys: list[str], num_classes: int | None) -> PaperConfig:
        """The named config, else the first default one that fits the keys and classes."""
        if name is not None:
            for c in self.configs:
                if c.name == name:
                    return c
            valid = ", ".join(c.name for c in self.configs)
            raise ConfigError(f"unknown --format-config {name!r} for {self.name}; valid: {valid}")
        for c in self.configs:
            if c.default and c.fits(keys, num_classes):
                return c
        fitting = [c.name for c in self.configs if c.fits(keys, None)]
        raise ConfigError(
            f"{self.name}: no default config for {num_classes} classes; pass --format-config "
            f"({', '.join(fitting) or 'none fits these keys'})"
        )

    def rename(self, key: str) -> str:
        """``key`` in ltrobust's names (:data:`DROP` when the key is not used)."""
        for pattern, repl in self.rules:
            if re.search(pattern, key):
                if repl == DROP:
                    return DROP
                key = re.sub(pattern, repl, key)
        return key


@dataclass(frozen=True)
class Match:
    """How well a state_dict's keys fit one format."""

    name: str
    missing: tuple[str, ...]
    forbidden: tuple[str, ...]
    container_ok: bool

    @property
    def full(self) -> bool:
        return not self.missing and not self.forbidden

    @property
    def score(self) -> tuple[int, int, int]:
        return (int(self.full), int(self.container_ok), -len(self.missing) - len(self.forbidden))


def match(fmt: PaperFormat, keys: list[str], container: str | None) -> Match:
    """How ``keys`` fit ``fmt``: its required patterns missing, its forbidden ones present."""
    missing = tuple(ex for pat, ex in fmt.required if not any(re.search(pat, k) for k in keys))
    bad = tuple(k for k in keys if any(re.search(p, k) for p in fmt.forbidden))
    return Match(fmt.name, missing, bad[:3], container == fmt.container)
