"""Data sets, registered the way :mod:`zoo.models` registers architectures.

:mod:`~training.datasets.registry` holds the registry (``register_dataset``, ``load_dataset``,
``list_datasets``, :class:`~training.datasets.registry.Dataset`); every other module here is one
family of loaders that registers itself with ``@register_dataset``: the offline scikit-learn sets
(:mod:`~training.datasets.sklearn_sets`), the downloads (MNIST, Fashion-MNIST, CIFAR-10, jets:
:mod:`~training.datasets.downloads`), MLPerf Tiny audio (:mod:`~training.datasets.audio`) and
image folders (:mod:`~training.datasets.image_sets`). Importing this package imports every
module in it, so a new data set is one function in one module, nothing else changes; a module's
``ORDER`` places its sets in the listing. :mod:`~training.datasets.cache` is where files live,
:mod:`~training.datasets.adapt` fits a data set to a model, :mod:`~training.datasets.userdata`
reads the user's own data.
"""

import importlib
import pkgutil

from training.datasets.registry import order_listing

for _m in pkgutil.iter_modules(__path__):
    if not _m.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_m.name}")
order_listing()
