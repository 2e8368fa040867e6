"""``edgezoo demo``: the main job on the embedded default data (digits)."""

from __future__ import annotations


def register(sub):
    p = sub.add_parser("demo", help="train the default models on the embedded digits data and print their metrics")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--epochs", type=int, default=40)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args):
    from edgezoo.commands.train_cmds import print_metrics
    from training.train import train

    for name in ("mlp", "lenet5"):
        print(f"== {name} on digits")
        print_metrics(train(name, "digits", epochs=args.epochs, out=f"{args.out}/{name}-digits", verbose=0))
    return 0
