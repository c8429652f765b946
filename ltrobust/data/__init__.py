"""Datasets for ltrobust: presets, the long-tailed profile, class groups, offline discovery.

Public API (docs/METHODS.md §1): :func:`lt_counts`, :func:`select_lt_indices`,
:func:`class_groups`, :class:`DatasetSpec`, :data:`DATASETS`, :func:`get_spec`,
:func:`list_datasets`, :func:`threat_defaults`, the readers of the official formats,
:func:`find_dataset_root`, :func:`dataset_status`, :class:`EvalData`, :func:`load_eval_data`,
:func:`load_train_data` and :func:`load_class_counts`. Names load lazily: the presets
(:mod:`ltrobust.data.specs`) are torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ltrobust.lazy import exports

if TYPE_CHECKING:
    from ltrobust.data.custom import load_class_counts, load_tensor_file
    from ltrobust.data.discovery import (
        cache_dir,
        dataset_status,
        ensure_dataset,
        find_dataset_root,
        network_available,
        search_roots,
    )
    from ltrobust.data.folder import load_image_folder
    from ltrobust.data.loading import EvalData, load_eval_data, load_train_data
    from ltrobust.data.profile import (
        GROUP_CHOICES,
        GROUP_MODES,
        class_groups,
        lt_counts,
        proportional_quotas,
        resolve_group_mode,
        select_lt_indices,
        stratified_subsample,
        validate_class_counts,
    )
    from ltrobust.data.readers import read_cifar10, read_cifar100, read_idx, read_split
    from ltrobust.data.specs import (
        DATASETS,
        DatasetSpec,
        get_spec,
        is_custom,
        list_datasets,
        resolve_threat,
        threat_defaults,
    )

_WHERE = {
    **dict.fromkeys(("load_class_counts", "load_tensor_file"), "ltrobust.data.custom"),
    "load_image_folder": "ltrobust.data.folder",
    **dict.fromkeys(
        (
            "cache_dir",
            "dataset_status",
            "ensure_dataset",
            "find_dataset_root",
            "network_available",
            "search_roots",
        ),
        "ltrobust.data.discovery",
    ),
    **dict.fromkeys(("EvalData", "load_eval_data", "load_train_data"), "ltrobust.data.loading"),
    **dict.fromkeys(
        (
            "GROUP_CHOICES",
            "GROUP_MODES",
            "class_groups",
            "lt_counts",
            "proportional_quotas",
            "resolve_group_mode",
            "select_lt_indices",
            "stratified_subsample",
            "validate_class_counts",
        ),
        "ltrobust.data.profile",
    ),
    **dict.fromkeys(
        ("read_cifar10", "read_cifar100", "read_idx", "read_split"), "ltrobust.data.readers"
    ),
    **dict.fromkeys(
        (
            "DATASETS",
            "DatasetSpec",
            "get_spec",
            "is_custom",
            "list_datasets",
            "resolve_threat",
            "threat_defaults",
        ),
        "ltrobust.data.specs",
    ),
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)
