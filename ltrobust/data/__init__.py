"""Datasets for ltrobust: presets, the long-tailed profile, class groups, offline discovery.

Public API (docs/METHODS.md §1): :func:`lt_counts`, :func:`select_lt_indices`,
:func:`class_groups`, :class:`DatasetSpec`, :data:`DATASETS`, :func:`get_spec`,
:func:`list_datasets`, :func:`threat_defaults`, the readers of the official formats,
:func:`find_dataset_root`, :func:`dataset_status`, :class:`EvalData`, :func:`load_eval_data`,
:func:`load_train_data`, :func:`load_class_counts`; split-file data streamed from disk
(:func:`open_split_dataset`, :data:`SPLIT_PRESETS`, :class:`ImageFiles`, :func:`make_loader`,
:func:`check_images`, :func:`write_tiny_imagenet_lt_splits`). Names load lazily: the presets
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
    from ltrobust.data.preflight import BadImage, Preflight, check_images
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
        SPLIT_PRESETS,
        DatasetSpec,
        SplitPreset,
        get_spec,
        get_split_preset,
        is_custom,
        list_datasets,
        resolve_threat,
        threat_defaults,
    )
    from ltrobust.data.splits import SplitData, SplitEntries, open_split_dataset, read_split_file
    from ltrobust.data.stream import (
        ImageFiles,
        Preprocess,
        batches,
        default_workers,
        make_loader,
        split_test_images,
    )
    from ltrobust.data.tiny_lt import write_tiny_imagenet_lt_splits

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
            "SPLIT_PRESETS",
            "SplitPreset",
            "get_split_preset",
            "is_custom",
            "list_datasets",
            "resolve_threat",
            "threat_defaults",
        ),
        "ltrobust.data.specs",
    ),
    **dict.fromkeys(("BadImage", "Preflight", "check_images"), "ltrobust.data.preflight"),
    **dict.fromkeys(
        ("SplitData", "SplitEntries", "open_split_dataset", "read_split_file"),
        "ltrobust.data.splits",
    ),
    **dict.fromkeys(
        (
            "ImageFiles",
            "Preprocess",
            "batches",
            "default_workers",
            "make_loader",
            "split_test_images",
        ),
        "ltrobust.data.stream",
    ),
    "write_tiny_imagenet_lt_splits": "ltrobust.data.tiny_lt",
}
__all__ = sorted(_WHERE)
__getattr__, __dir__ = exports(__name__, globals(), _WHERE)
