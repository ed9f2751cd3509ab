"""Ray job entrypoint: `python jobs/batch_classify.py INPUT --model NAME --output OUT [options]` (as `imgclf classify`)."""

import sys

from imgclf.cli import main

if __name__ == "__main__":
    sys.exit(main(["classify", *sys.argv[1:]]))
