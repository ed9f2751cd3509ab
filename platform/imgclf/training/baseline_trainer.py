"""The trainer of the scikit-learn baseline kinds (knn, dt): every baseline × feature set searched together.

Keras is imported only for the embeddings feature set, when its VGG16 extractor is built.
"""

from __future__ import annotations

import numpy as np

from imgclf.explanations.neighbours import NeighbourGallery
from imgclf.models.classifier import SklearnClassifier
from imgclf.models.features import EmbeddingFeatures, PixelFeatures
from imgclf.training.baseline_search import SearchJob, search
from imgclf.training.embedding_cache import cached_embeddings
from imgclf.training.job import TrainedModel, TrainingJob


def baseline_features(job: TrainingJob, feature_set: str) -> PixelFeatures | EmbeddingFeatures:
    settings = job.settings
    if feature_set == "pixels":
        return PixelFeatures(settings.baselines.pixel_size)
    from imgclf.models.keras_api import keras
    from imgclf.models.vgg import VGGArchitecture, build_vgg16, embedding_model

    keras.utils.set_random_seed(settings.seed)
    architecture = VGGArchitecture(num_classes=len(job.data.classes), image_size=settings.vgg.image_size)
    return EmbeddingFeatures(embedding_model(build_vgg16(architecture, weights=settings.vgg.weights)),
                             progress=job.progress)


def features_of(features: PixelFeatures | EmbeddingFeatures, job: TrainingJob) -> np.ndarray:
    data = job.data
    if isinstance(features, EmbeddingFeatures):
        return cached_embeddings(features, data.images, data.manifest.digest(), job.settings.cache_dir)
    return features.transform(data.images)


def neighbour_gallery(job: TrainingJob, fit_index: np.ndarray) -> NeighbourGallery:
    """The rows a KNN is fitted on, in fit order, for its explanations: paths, labels and thumbnails."""
    rows = job.data.manifest.rows
    return NeighbourGallery.of(job.data.images[fit_index], [rows[i].path for i in fit_index],
                               job.data.labels[fit_index])


def train_baselines(job: TrainingJob, kinds: tuple[str, ...]) -> list[TrainedModel]:
    """Every baseline of `kinds` × feature set: hyperparameter search with cross-validation as parallel Ray tasks
    on train+val, the best setting refitted there."""
    settings, data = job.settings, job.data
    fit_index = data.indices("train", "val")
    extractors = {fs: baseline_features(job, fs) for fs in settings.baselines.feature_sets}
    jobs: dict[SearchJob, str] = {}  # each search and its feature set
    for feature_set, extractor in extractors.items():
        matrix = features_of(extractor, job)[fit_index]
        jobs |= {SearchJob(f"{kind}-{feature_set}", kind, matrix, data.labels[fit_index]): feature_set
                 for kind in kinds}
    outcomes = search(list(jobs), settings.baselines, settings.seed, parallel=True)
    trained = []
    for search_job, feature_set in jobs.items():
        outcome = outcomes[search_job.name]
        features = extractors[feature_set]
        card = job.card(job.model_name(search_job.name), search_job.kind).replace(
            estimator=repr(outcome.estimator), best_params=outcome.best_params, temperature=outcome.temperature,
            features=features.to_dict())
        gallery = neighbour_gallery(job, fit_index) if search_job.kind == "knn" else None
        classifier = SklearnClassifier(outcome.estimator, features, gallery=gallery, labels=data.classes,
                                       input_size=settings.vgg.image_size, card=card.to_dict(),
                                       temperature=outcome.temperature)
        trained.append(TrainedModel(card, classifier, cv=outcome.cv, search=outcome.to_dict()))
    return trained
