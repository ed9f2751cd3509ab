"""The batch section's baseline: the plain single-process way to classify a folder, run as its own process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.artifacts import BenchModel
from bench.data import fresh_folder, image_paths

NAIVE_SCRIPT = """\
    \"\"\"The plain single-process way: load the model, PIL decode + resize, predict in batches, write Parquet.\"\"\"
    import sys
    from pathlib import Path

    import numpy as np
    import pandas as pd
    from PIL import Image

    from imgclf.runtime import configure_tensorflow

    configure_tensorflow()
    from imgclf.models.artifact import load_classifier
    from imgclf.models.prediction import Prediction

    model_folder, input_folder, output, batch_size, k = sys.argv[1:6]
    batch_size, k = int(batch_size), int(k)
    classifier = load_classifier(model_folder)  # backend auto, as the batch job runs it
    size, labels = classifier.input_size, classifier.labels
    paths = sorted(Path(input_folder).glob("*.jpg"))
    rows = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        batch = np.stack([np.asarray(Image.open(path).convert("RGB").resize((size, size)), dtype=np.uint8)
                          for path in chunk])
        for path, probabilities in zip(chunk, classifier.predict_batch(batch)):
            prediction = Prediction.from_probabilities(probabilities, labels, k, model_name="", model_version="")
            rows.append({"path": str(path), "label": prediction.label, "label_index": prediction.label_index,
                         "score": prediction.score, "top_k": prediction.top_k_rows()})
    pd.DataFrame(rows).to_parquet(output)
"""


def naive_script_seconds(model: BenchModel, folder: Path, output: Path, script: Path, *, batch_size: int,
                         top_k: int) -> float:
    """The naive script run as its own process, timed from launch to exit; checks it wrote a row per photo."""
    script.write_text(textwrap.dedent(NAIVE_SCRIPT))
    fresh_folder(output).mkdir()
    predictions = output / "predictions.parquet"
    command = [sys.executable, str(script), str(model.folder), str(folder), str(predictions), str(batch_size),
               str(top_k)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the naive script failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    rows = pq.read_metadata(predictions).num_rows
    if rows != len(image_paths(folder)):
        raise RuntimeError(f"the naive script wrote {rows} rows for {len(image_paths(folder))} photos")
    return seconds
