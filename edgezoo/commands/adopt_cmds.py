"""``edgezoo adopt DIR``: an older edgezoo's run directory (from before the ownership marker)
becomes edgezoo's, on the user's request: the marker records its current files as edgezoo's,
so later commands may replace them (files added afterwards stay the user's)."""

from __future__ import annotations

KINDS = ("train", "import", "compress", "export", "bench", "pipeline")


def register(sub):
    p = sub.add_parser(
        "adopt",
        help="mark an older edgezoo run directory (no .edgezoo.json) as edgezoo's",
        description="Write DIR/.edgezoo.json recording every file now in DIR as edgezoo's, so "
        "edgezoo may replace them later. Only for directories an older edgezoo wrote: every "
        "file recorded may be deleted by a later command.",
    )
    p.add_argument("dir", metavar="DIR", help="the run directory to adopt")
    p.add_argument(
        "--kind",
        choices=KINDS,
        help="what the directory holds (default: read from its config.json, manifest.json, "
        "compression.json or pipeline.json)",
    )
    p.set_defaults(func=cmd_adopt)


def cmd_adopt(args):
    from zoo.core.marker import adopt_dir

    marker = adopt_dir(args.dir, kind=args.kind)
    names = sorted(marker["entries"])
    shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
    print(
        f"{args.dir}: adopted as an edgezoo {marker['kind']} directory; recorded: {shown or 'nothing'}"
    )
    return 0
