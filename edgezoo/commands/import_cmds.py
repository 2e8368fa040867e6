"""``edgezoo import``: a user's own model file and data become an edgezoo model directory."""

from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        "import", help="import your own Keras model (.keras/.h5) and data into a model directory"
    )
    add_import_arguments(p, model_positional=True)
    p.add_argument("--out", help="model directory to write (default runs/<model>-import)")
    p.add_argument(
        "--force", action="store_true", help="replace an earlier import of another model in --out"
    )
    p.set_defaults(func=cmd_import)


def add_import_arguments(p, *, model_positional: bool):
    """The import options, shared with ``edgezoo run --model-file``."""
    if model_positional:
        p.add_argument(
            "model_file",
            metavar="MODEL_FILE",
            help="a .keras or .h5 model file (Keras 3, Keras 2, QKeras)",
        )
        p.add_argument(
            "--data",
            required=True,
            help=".npz (x_train,y_train,x_test,y_test or x,y), .csv (features + label column) "
            "or a folder with one subfolder of images per class",
        )
    p.add_argument(
        "--task",
        choices=("classification", "regression", "reconstruction"),
        help="default: inferred from the model's output activation and the labels",
    )
    p.add_argument("--label-column", help="CSV: the label column (default: the last column)")
    p.add_argument(
        "--normalize",
        choices=("none", "scale", "standardize"),
        default="none",
        help="normalization fit on the training split (default none: the data as the model expects it)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")


def cmd_import(args):
    from edgezoo import ui
    from training.imports import import_model

    result = import_model(
        args.model_file,
        args.data,
        out=args.out,
        task=args.task,
        label_column=args.label_column,
        seed=args.seed,
        normalize=args.normalize,
        force=args.force,
        progress=ui.say,
    )
    cfg = result.config
    imp, data = cfg.imported, cfg.data
    print(f"{args.model_file}: {imp['route']}; {cfg.card['params']:,} parameters; task {cfg.task}")
    print(
        f"data: {data['n_train']} train / {data['n_val']} val / {data['n_test']} test samples, "
        f"input {data['input_shape']}"
    )
    shown = {k: round(v, 4) for k, v in result.metrics.items() if isinstance(v, float)}
    print(f"test metrics: {shown}")
    print(f"model directory: {result.dir}  (next: edgezoo export {result.dir})")
    return 0
