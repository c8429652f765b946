"""Datasets for ltrobust: presets, the long-tailed profile, class groups, offline discovery.

Public API (METHODS.md §1): :func:`lt_counts`, :func:`select_lt_indices`, :func:`class_groups`,
:class:`DatasetSpec`, :data:`DATASETS`, :func:`get_spec`, :func:`list_datasets`, the readers of
the official formats, :func:`find_dataset_root`, :func:`dataset_status`, :class:`EvalData`,
:func:`load_eval_data`, :func:`load_train_data` and :func:`load_class_counts`.
"""

from __future__ import annotations

from ltrobust.data.custom import load_class_counts, load_image_folder, load_tensor_file
from ltrobust.data.discovery import (
    cache_dir,
    dataset_status,
    ensure_dataset,
    find_dataset_root,
    network_available,
    search_roots,
)
from ltrobust.data.loading import EvalData, load_eval_data, load_train_data
from ltrobust.data.profile import (
    GROUP_MODES,
    class_groups,
    lt_counts,
    proportional_quotas,
    select_lt_indices,
    stratified_subsample,
    validate_class_counts,
)
from ltrobust.data.readers import read_cifar10, read_cifar100, read_idx, read_split
from ltrobust.data.specs import DATASETS, DatasetSpec, get_spec, is_custom, list_datasets

__all__ = [
    "DATASETS",
    "GROUP_MODES",
    "DatasetSpec",
    "EvalData",
    "cache_dir",
    "class_groups",
    "dataset_status",
    "ensure_dataset",
    "find_dataset_root",
    "get_spec",
    "is_custom",
    "list_datasets",
    "load_class_counts",
    "load_eval_data",
    "load_image_folder",
    "load_tensor_file",
    "load_train_data",
    "lt_counts",
    "network_available",
    "proportional_quotas",
    "read_cifar10",
    "read_cifar100",
    "read_idx",
    "read_split",
    "search_roots",
    "select_lt_indices",
    "stratified_subsample",
    "validate_class_counts",
]
