"""Embeddings are computed once per (manifest, extractor weights) and then read back from disk."""

from types import SimpleNamespace

import numpy as np

from imgclf.training.embedding_cache import cached_embeddings


class CountingModel:
    """A stand-in for a Keras embedding model: weights plus a predict that counts its calls."""

    output = SimpleNamespace(shape=(None, 3))
    outputs = [output]

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.calls = 0

    def get_weights(self):
        return [np.full((2, 2), self.offset, np.float32)]

    def predict_on_batch(self, batch):
        self.calls += 1
        return batch.reshape(len(batch), -1)[:, :3].astype(np.float32) + self.offset


def features_for(model):
    from imgclf.models.features import EmbeddingFeatures

    return EmbeddingFeatures(model, batch_size=4)


def test_second_call_reads_the_cache(tmp_path):
    images = np.arange(6 * 4 * 4 * 3, dtype=np.uint8).reshape(6, 4, 4, 3)
    model = CountingModel(0.0)
    first = cached_embeddings(features_for(model), images, "abc", tmp_path)
    calls = model.calls
    second = cached_embeddings(features_for(model), images, "abc", tmp_path)
    assert calls == 2 and model.calls == calls
    np.testing.assert_array_equal(first, second)
    assert len(list(tmp_path.glob("embeddings-*.npy"))) == 1


def test_other_weights_or_manifest_compute_again(tmp_path):
    images = np.zeros((4, 4, 4, 3), np.uint8)
    cached_embeddings(features_for(CountingModel(0.0)), images, "abc", tmp_path)
    other_weights = CountingModel(1.0)
    result = cached_embeddings(features_for(other_weights), images, "abc", tmp_path)
    assert other_weights.calls == 1 and np.all(result == 1.0)
    cached_embeddings(features_for(CountingModel(0.0)), images, "def", tmp_path)
    assert len(list(tmp_path.glob("embeddings-*.npy"))) == 3
