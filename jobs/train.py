"""Ray job entrypoint: `python jobs/train.py --data DIR [--data DIR ...] [options]` (same options as `imgclf train`)."""

import sys

from imgclf.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
