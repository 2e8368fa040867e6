"""``edgezoo list`` and ``edgezoo info``."""

from __future__ import annotations

import numpy as np

import zoo
from edgezoo import names
from edgezoo.commands._common import parse_overrides, print_json
from zoo.core.tables import markdown_table

BYTES = {"fp32": 4, "fp16": 2, "int8": 1}


def register(sub):
    p = sub.add_parser("list", help="list the zoo's models and their cards")
    p.add_argument(
        "pattern", nargs="?", default="*", metavar="PATTERN", help="wildcard, e.g. 'jet_*'"
    )
    p.add_argument("--json", action="store_true", help="machine-readable cards")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("info", help="layer table of a model: output shapes, parameters, memory")
    p.add_argument(
        "model", metavar="MODEL", type=names.model_name, help="zoo model name (see `edgezoo list`)"
    )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="builder override, e.g. input_shape=[32,32,3]",
    )
    p.add_argument("--json", action="store_true", help="machine-readable layer table")
    p.set_defaults(func=cmd_info)


def cmd_list(args):
    names = zoo.list_models(args.pattern)
    cards = [zoo.get_card(n) for n in names]
    if args.json:
        print_json([c.to_dict() for c in cards])
        return 0
    rows = [
        [
            c.name,
            c.family,
            c.task,
            "x".join(map(str, c.input_shape)),
            f"{c.params:,}",
            c.dataset,
            ",".join(c.targets) or "-",
        ]
        for c in cards
    ]
    print(
        markdown_table(
            rows, ["model", "family", "task", "input", "params", "dataset", "targets"], "llllrll"
        )
    )
    return 0


def layer_table(model) -> list[dict]:
    """Per layer: output shape, parameters, activation elements (the lecture-003 style table)."""
    rows = []
    for layer in model.layers:
        out = layer.output
        shapes = (
            [tuple(o.shape) for o in out] if isinstance(out, (list, tuple)) else [tuple(out.shape)]
        )
        acts = int(sum(np.prod([d for d in s[1:] if d is not None]) for s in shapes))
        rows.append(
            {
                "name": layer.name,
                "type": type(layer).__name__,
                "output_shape": [None if d is None else int(d) for d in shapes[0]],
                "params": int(layer.count_params()),
                "activations": acts,
            }
        )
    return rows


def model_info(name: str, **overrides) -> dict:
    model = zoo.create_model(name, **overrides)
    rows = layer_table(model)
    params = int(model.count_params())
    acts = sum(r["activations"] for r in rows)
    return {
        "model": name,
        "card": zoo.get_card(name).to_dict(),
        "overrides": overrides,
        "layers": rows,
        "params": params,
        "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "weights_bytes": {p: params * b for p, b in BYTES.items()},
        "activations_per_sample": acts,
        "activations_bytes_per_sample": {p: acts * b for p, b in BYTES.items()},
    }


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def cmd_info(args):
    info = model_info(args.model, **parse_overrides(args.set))
    if args.json:
        print_json(info)
        return 0
    card = info["card"]
    print(f"{args.model} -- {card['family']}, {card['task']}; from {card['lecture']}")
    rows = [
        [
            r["name"],
            r["type"],
            "x".join("?" if d is None else str(d) for d in r["output_shape"][1:]),
            f"{r['activations']:,}",
            f"{r['params']:,}",
        ]
        for r in info["layers"]
    ]
    print(markdown_table(rows, ["layer", "type", "output", "activations", "params"], "lllrr"))
    print()
    w, a = info["weights_bytes"], info["activations_bytes_per_sample"]
    print(f"parameters: {info['params']:,} (trainable {info['trainable_params']:,})")
    print(
        "memory      "
        + "  ".join(
            f"{p}: weights {_human(w[p])}, activations/sample {_human(a[p])}" for p in BYTES
        )
    )
    print(
        f"claimed targets: {', '.join(card['targets']) or 'none'}; default data: {card['dataset']}"
    )
    ref = card.get("reference") or {}
    if ref:
        print(
            f"reference: {ref['benchmark']} -- data {ref['dataset']}; quality target "
            f"{ref['quality_target']}; published int8 TFLite {ref['int8_tflite_bytes']:,} B"
        )
    if card.get("notes"):
        print(f"notes: {card['notes']}")
    return 0
