"""`imgclf data`: write the embedded datasets."""

from __future__ import annotations

import argparse
from pathlib import Path

from imgclf.cli.options import positive_int


def register(commands: argparse._SubParsersAction) -> None:
    data = commands.add_parser("data", help="write the embedded datasets", allow_abbrev=False)
    datasets = data.add_subparsers(dest="dataset", required=True)
    digits = datasets.add_parser("digits", allow_abbrev=False,
                                 help="scikit-learn's 1,797 handwritten digits as RGB PNGs, a folder per class")
    digits.add_argument("folder", type=Path)
    digits.add_argument("--size", type=positive_int, default=32, help="image side in pixels (default: %(default)s)")
    digits.add_argument("--inverted", action="store_true",
                        help="dark digits on a light ground, as from paper: images unlike the training digits")
    digits.set_defaults(handler=write_digits)


def write_digits(args: argparse.Namespace) -> int:
    from imgclf.data.digits import write_digits as write

    count = write(args.folder, size=args.size, inverted=args.inverted)
    print(f"wrote {count} {'inverted ' if args.inverted else ''}digit images to {args.folder}")
    return 0
