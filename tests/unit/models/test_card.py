"""model.json as a typed card: written exactly as to_dict() says, read back equal, refused when malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imgclf.errors import ArtifactError
from imgclf.models.card import CARD_FILE, LABELS_FILE, ModelCard, read_card, write_card


def card(**fields) -> ModelCard:
    return ModelCard(name="pets-knn", kind="knn", labels=["cat", "dog"], input_size=32, **fields)


def test_model_json_is_exactly_the_cards_dict_and_reads_back_equal(tmp_path: Path) -> None:
    written = card(features={"kind": "pixels", "size": 16}, best_params={"n_neighbors": 3})
    write_card(tmp_path, written)
    assert json.loads((tmp_path / CARD_FILE).read_text()) == written.to_dict()
    assert json.loads((tmp_path / LABELS_FILE).read_text()) == ["cat", "dog"]
    assert read_card(tmp_path) == written
    assert "architecture" not in written.to_dict() and "weights_sha256" not in written.to_dict()  # None: not written


@pytest.mark.parametrize("change, message", [
    (lambda values: values | {"colour": "red"}, "unknown field colour; expected one of "),
    (lambda values: {k: v for k, v in values.items() if k != "kind"}, "missing field 'kind'"),
    (lambda values: values | {"kind": "svm"}, "model kind must be one of vgg16, knn, dt; got 'svm'"),
    (lambda values: values | {"labels": []}, "labels must be a non-empty list of strings"),
    (lambda values: values | {"input_size": "32"}, "input_size must be a positive integer"),
])
def test_a_malformed_card_is_an_artifact_error_naming_the_file_and_the_field(tmp_path: Path, change, message) -> None:
    (tmp_path / CARD_FILE).write_text(json.dumps(change(card().to_dict())))
    with pytest.raises(ArtifactError, match=f"^{tmp_path / CARD_FILE}: .*{message}"):
        read_card(tmp_path)
