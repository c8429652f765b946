"""Dataset presets: the registry of long-tailed benchmarks and their defaults, and the one
rule for a dataset's default threat model (docs/METHODS.md §1)."""

from __future__ import annotations

from dataclasses import dataclass

from ltrobust.errors import ConfigError

CUSTOM_PREFIXES: tuple[str, ...] = ("folder:", "tensors:")
_CUSTOM_FORMS = "folder:PATH, tensors:FILE.pt"


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset preset.

    Attributes:
        name: registry name, e.g. ``"cifar10-lt"``.
        num_classes, channels, size: images are ``channels x size x size``.
        class_names: one name per class, in label order.
        n_max: training images of the head class in the long-tailed profile.
        default_ir: default imbalance ratio ``n_max / n_min``.
        eps_linf, step_linf, eps_l2, step_l2: default attack budgets and step sizes (pixels in
            [0,1]).
        train_total_per_class, test_per_class: images per class in the original balanced
            training and test sets.
        description: one line for listings.
        files: the files needed, relative to the dataset folder (for messages and discovery);
            the optional metadata files (``batches.meta``, ``meta``) are not listed.
        file_format: reader to use: ``"cifar10"``, ``"cifar100"`` or ``"idx"``.
        folders: folder names accepted inside a search root, first = canonical.
        url: where the data can be downloaded by hand.
        download_host: host probed before an automatic download.
        files_hint: short description of ``files`` for error messages.
        system_roots: extra read-only roots searched last (e.g. Debian's data package).
        crop_padding, hflip: training augmentation (RandomCrop padding, horizontal flip).
    """

    name: str
    num_classes: int
    channels: int
    size: int
    class_names: tuple[str, ...]
    n_max: int
    default_ir: float
    eps_linf: float
    step_linf: float
    eps_l2: float
    step_l2: float
    train_total_per_class: int
    test_per_class: int
    description: str
    files: tuple[str, ...]
    file_format: str
    folders: tuple[str, ...]
    url: str
    download_host: str
    files_hint: str
    system_roots: tuple[str, ...] = ()
    crop_padding: int = 4
    hflip: bool = True

    @property
    def shape(self) -> tuple[int, int, int]:
        """Image shape ``(C, H, W)``."""
        return (self.channels, self.size, self.size)


CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

#: idx file names of Fashion-MNIST (without ``.gz``; either form is accepted).
IDX_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_CIFAR10 = DatasetSpec(
    name="cifar10-lt",
    num_classes=10,
    channels=3,
    size=32,
    class_names=CIFAR10_CLASSES,
    n_max=5000,
    default_ir=50.0,
    eps_linf=8 / 255,
    step_linf=2 / 255,
    eps_l2=0.5,
    step_l2=0.125,
    train_total_per_class=5000,
    test_per_class=1000,
    description="CIFAR-10 long-tailed (IR 50, 13,996 training images), balanced test set",
    files=tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
    file_format="cifar10",
    folders=("cifar-10-batches-py",),
    url="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    download_host="www.cs.toronto.edu",
    files_hint="data_batch_1..5, test_batch",
)

_CIFAR100 = DatasetSpec(
    name="cifar100-lt",
    num_classes=100,
    channels=3,
    size=32,
    class_names=CIFAR100_CLASSES,
    n_max=500,
    default_ir=10.0,
    eps_linf=8 / 255,
    step_linf=2 / 255,
    eps_l2=0.5,
    step_l2=0.125,
    train_total_per_class=500,
    test_per_class=100,
    description="CIFAR-100 long-tailed (IR 10, 19,573 training images), balanced test set",
    files=("train", "test"),
    file_format="cifar100",
    folders=("cifar-100-python",),
    url="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    download_host="www.cs.toronto.edu",
    files_hint="train, test",
)

_FASHION = DatasetSpec(
    name="fashion-mnist-lt",
    num_classes=10,
    channels=1,
    size=28,
    class_names=FASHION_MNIST_CLASSES,
    n_max=6000,
    default_ir=50.0,
    eps_linf=0.1,
    step_linf=0.01,
    eps_l2=1.0,
    step_l2=0.25,
    train_total_per_class=6000,
    test_per_class=1000,
    description="Fashion-MNIST long-tailed (IR 50, 16,796 training images), balanced test set",
    files=tuple(f"{name}.gz" for pair in IDX_FILES.values() for name in pair),
    file_format="idx",
    folders=("fashion-mnist", "FashionMNIST/raw"),
    url="https://github.com/zalandoresearch/fashion-mnist",
    download_host="ossci-datasets.s3.amazonaws.com",
    files_hint="train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz",
    system_roots=("/usr/share/datasets/fashion-mnist",),
    crop_padding=2,
    hflip=False,
)

#: The preset registry, keyed by name.
DATASETS: dict[str, DatasetSpec] = {spec.name: spec for spec in (_CIFAR10, _CIFAR100, _FASHION)}


def valid_dataset_names() -> str:
    """The comma-separated list of valid dataset names, for error messages."""
    return ", ".join([*DATASETS, _CUSTOM_FORMS])


def is_custom(name: str) -> bool:
    """True for the custom forms ``folder:PATH`` and ``tensors:FILE.pt``."""
    return name.startswith(CUSTOM_PREFIXES)


def get_spec(name: str) -> DatasetSpec:
    """The preset called ``name``.

    Raises:
        ConfigError: ``name`` is not a preset (custom ``folder:``/``tensors:`` forms have no spec).
    """
    spec = DATASETS.get(name)
    if spec is not None:
        return spec
    if is_custom(name):
        raise ConfigError(f"dataset '{name}' is a custom dataset and has no preset spec")
    raise ConfigError(f"unknown dataset '{name}'; valid: {valid_dataset_names()}")


def list_datasets() -> list[DatasetSpec]:
    """All presets, in registry order."""
    return list(DATASETS.values())


#: the threat model of custom data (``folder:``, ``tensors:``): CIFAR's budgets and steps
CUSTOM_THREAT: dict[str, tuple[float, float]] = {"linf": (8 / 255, 2 / 255), "l2": (0.5, 0.125)}


def threat_defaults(dataset: str | None, norm: str = "linf") -> tuple[float, float]:
    """The default ``(eps, step)`` of ``dataset`` for ``norm`` (docs/METHODS.md §1); custom
    data, or no dataset, gets :data:`CUSTOM_THREAT`."""
    if norm not in CUSTOM_THREAT:
        raise ConfigError(f"unknown norm {norm!r}; valid: {', '.join(CUSTOM_THREAT)}")
    if dataset is None or is_custom(dataset):
        return CUSTOM_THREAT[norm]
    spec = get_spec(dataset)
    return (spec.eps_linf, spec.step_linf) if norm == "linf" else (spec.eps_l2, spec.step_l2)


def resolve_threat(
    dataset: str | None, norm: str = "linf", eps: float | None = None, step: float | None = None
) -> tuple[float, float]:
    """The one rule for a threat model's budget and step: explicit values, else the dataset's
    defaults; an ``eps`` given without a ``step`` keeps the default step/eps ratio."""
    eps_d, step_d = threat_defaults(dataset, norm)
    if step is None:
        step = step_d if eps is None else eps * step_d / eps_d
    return (eps_d if eps is None else eps), step


@dataclass(frozen=True)
class SplitPreset:
    """A preset of split-file data (``imagenet-lt``, ``tiny-imagenet-lt``): which split files,
    how each test image is prepared, and the default threat model and normalisation.

    Attributes:
        name: registry name.
        num_classes: classes ``C``; the split files' labels must lie in ``0..C-1``.
        resize: the shorter side is resized to this (bilinear, antialiased), or None.
        crop: side of the centre crop taken after ``resize``, or None; the model's input side.
        mean, std: the normalisation a model of this data expects by default (None: none).
        eps_linf, step_linf, eps_l2, step_l2: default budgets and steps (pixels in [0, 1]).
        train_split, test_split: the split files' names (looked for in the dataset root).
        test_per_class: test images per class in the published test split.
        description: one line for listings.
        obtain: where the split files and the images come from (for messages).
    """

    name: str
    num_classes: int
    resize: int | None
    crop: int | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    eps_linf: float
    step_linf: float
    eps_l2: float
    step_l2: float
    train_split: str
    test_split: str
    test_per_class: int
    description: str
    obtain: str

    @property
    def shape(self) -> tuple[int, int, int]:
        """Model input shape ``(3, crop, crop)``."""
        side = self.crop or self.resize or 0
        return (3, side, side)

    def threat(self, norm: str = "linf") -> tuple[float, float]:
        """The default ``(eps, step)`` for ``norm`` (``linf`` or ``l2``)."""
        if norm not in CUSTOM_THREAT:
            raise ConfigError(f"unknown norm {norm!r}; valid: {', '.join(CUSTOM_THREAT)}")
        return (self.eps_linf, self.step_linf) if norm == "linf" else (self.eps_l2, self.step_l2)


#: ImageNet's per-channel statistics (torchvision's pretrained ImageNet models)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

_IMAGENET_LT = SplitPreset(
    name="imagenet-lt",
    num_classes=1000,
    resize=256,
    crop=224,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    eps_linf=4 / 255,
    step_linf=1 / 255,
    eps_l2=3.0,
    step_l2=0.75,
    train_split="ImageNet_LT_train.txt",
    test_split="ImageNet_LT_test.txt",
    test_per_class=50,
    description="ImageNet-LT (Liu et al. 2019): 115,846 training images (1280 to 5 per class), "
    "50,000 balanced test images",
    obtain="the ImageNet-LT split files of the OLTR repository (zhmiao/"
    "OpenLongTailRecognition-OLTR) beside an ImageNet-2012 folder holding train/ and val/",
)

_TINY_IMAGENET_LT = SplitPreset(
    name="tiny-imagenet-lt",
    num_classes=200,
    resize=64,
    crop=64,
    mean=None,
    std=None,
    eps_linf=8 / 255,
    step_linf=2 / 255,
    eps_l2=0.5,
    step_l2=0.125,
    train_split="tiny_imagenet_lt_train.txt",
    test_split="tiny_imagenet_lt_test.txt",
    test_per_class=50,
    description="Tiny-ImageNet-LT (AT-BSL's profile: 500 to 50 per class, IR 10), "
    "the 10,000 balanced validation images as test set",
    obtain="split files written by ltrobust.data.write_tiny_imagenet_lt_splits from the "
    "official tiny-imagenet-200 folder",
)

#: the split-file presets, keyed by name (not in :data:`DATASETS` until the audit reads them)
SPLIT_PRESETS: dict[str, SplitPreset] = {p.name: p for p in (_IMAGENET_LT, _TINY_IMAGENET_LT)}


def get_split_preset(name: str) -> SplitPreset:
    """The split-file preset called ``name``.

    Raises:
        ConfigError: no such preset.
    """
    preset = SPLIT_PRESETS.get(name)
    if preset is None:
        raise ConfigError(f"unknown split preset {name!r}; valid: {', '.join(SPLIT_PRESETS)}")
    return preset
