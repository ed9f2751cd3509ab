"""`python -m bench`: run benchmark sections, print a table, write JSON (ratios measured in one run)."""

from __future__ import annotations

import argparse
import json
import logging
from datetime import datetime, timezone
from pathlib import Path

from imgclf.console import install_quiet_tensorflow_import

install_quiet_tensorflow_import()  # the bench owns its process, as the imgclf command does: before a section imports TF

from bench import backends, baselines, batch, explain, model, serve, train  # noqa: E402
from bench.data import BenchInputs  # noqa: E402
from bench.machine import machine_info  # noqa: E402
from imgclf.runtime import configure_tensorflow  # noqa: E402

SECTIONS = {"backends": backends, "model": model, "train": train, "baselines": baselines, "batch": batch,
            "serve": serve, "explain": explain}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path(".bench/results.json"))
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma list of %(default)s")
    parser.add_argument("--photos", type=Path, default=Path("../shared/datasets/hymenoptera"),
                        help="JPEG photos for the backends, batch and serve sections (default: %(default)s)")
    parser.add_argument("--serve-config", type=Path, default=Path("serve_config.yaml"),
                        help="the Serve config the serve section deploys (default: %(default)s)")
    parser.add_argument("--registry", help="registry holding a trained digits VGG16 (default: train one under .bench)")
    parser.add_argument("--model", default="digits-vgg16", help="model reference in --registry (default: %(default)s)")
    parser.add_argument("--batch-images", type=int, default=batch.IMAGES,
                        help="photos the batch section classifies (twice, cold and warm, for its steady state; "
                             f"memory run: 1× and 10× of at most {batch.MEMORY_IMAGES}; default %(default)s)")
    parser.add_argument("--serve-image-size", type=int, default=serve.IMAGE_SIZE,
                        help="the served VGG16's input size in px (default %(default)s)")
    parser.add_argument("--serve-seconds", type=float, default=serve.MEASURE_S,
                        help="measured seconds of each serve load run, after its warm-up (default %(default)s)")
    parser.add_argument("--serve-rounds", type=int, default=serve.ROUNDS,
                        help="rounds of the serve section's side-by-side measures (default %(default)s)")
    parser.add_argument("--explain-pairs", type=int, default=explain.PAIRS,
                        help="interleaved pairs of a classify with explanations on and one off (default %(default)s)")
    parser.add_argument("--explain-calls", type=int, default=explain.CALLS,
                        help="classify and explain calls per model in the explain section (default %(default)s)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_tensorflow()
    bench_dir = args.output.parent
    inputs = BenchInputs(photos=args.photos.resolve(), serve_config=args.serve_config.resolve())
    bench_dir.mkdir(parents=True, exist_ok=True)
    results = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine_info(), "sections": {}}
    table: list[tuple[str, str]] = []
    section_options = {"batch": {"images": args.batch_images},
                       "serve": {"image_size": args.serve_image_size, "seconds": args.serve_seconds,
                                 "rounds": args.serve_rounds},
                       "explain": {"pairs": args.explain_pairs, "calls": args.explain_calls}}
    for name in args.sections.split(","):
        section = SECTIONS[name]
        options = section_options.get(name, {})
        results["sections"][name] = section.run(bench_dir, inputs=inputs, registry=args.registry, model=args.model,
                                                  **options)
        table += [(f"{name}: {measure}", value) for measure, value in section.rows(results["sections"][name])]
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    machine = results["machine"]
    print(f"\n{machine['cpu']}, {machine['cpus']} CPUs, flags: {' '.join(machine['flags'])}")
    width = max(len(measure) for measure, _ in table)
    for measure, value in table:
        print(f"{measure:<{width}}  {value}")
    print(f"\nwritten: {args.output}")


if __name__ == "__main__":
    main()
