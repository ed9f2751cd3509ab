"""The trained digits KNN's neighbours, checked against the training files themselves: each reference is a training
image of the manifest with that label, and the neighbours are the k nearest of all the rows it was fitted on, by a
brute-force search over those files, at the distances it reports."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from imgclf.data.decode import decode_file
from imgclf.data.transforms import stack_images
from imgclf.explanations.explain import explain
from imgclf.models.artifact import load_classifier
from imgclf.registry import Registry
from utils.digits_run import TrainedRun

pytestmark = pytest.mark.slow
KNN_MODEL = "digits-knn-pixels"


def test_the_neighbours_are_the_nearest_training_files_by_brute_force(trained_run: TrainedRun) -> None:
    folder = Registry(trained_run.registry).local_path(f"{KNN_MODEL}:1")
    classifier = load_classifier(folder)
    with open(folder / "manifest.csv", newline="") as manifest:
        fitted = [row for row in csv.DictReader(manifest) if row["split"] in ("train", "val")]
    images = stack_images([decode_file(trained_run.data_dir / row["path"]) for row in fitted], classifier.input_size)
    scale = classifier.estimator[:-1]  # the standardising step KNN measures distances after
    training = scale.transform(classifier.features.transform(images))
    query_file = sorted((trained_run.data_dir / "7").glob("*.png"))[-1]
    query = decode_file(query_file)
    explained = explain(classifier, query, model_name=KNN_MODEL, model_version="1")

    point = scale.transform(classifier.features.transform(stack_images([query], classifier.input_size)))[0]
    distances = np.linalg.norm(training - point, axis=1)
    nearest = np.argsort(distances, kind="stable")[: len(explained.parts.neighbours)]
    neighbours = explained.parts.neighbours
    assert [n.reference for n in neighbours] == [fitted[i]["path"] for i in nearest]
    assert [n.distance for n in neighbours] == pytest.approx(distances[nearest].tolist(), rel=1e-4, abs=1e-4)
    assert [n.label for n in neighbours] == [fitted[i]["label"] for i in nearest]
    assert all(n.reference.split("/")[0] == n.label for n in neighbours)  # the class folder it was read from
    votes = Counter(n.label for n in neighbours)
    assert votes[explained.predicted] == max(votes.values())  # the vote gives the answer
    assert len(neighbours) == classifier.estimator[-1].n_neighbors
