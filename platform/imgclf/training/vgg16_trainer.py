"""The vgg16 kind's trainer: VGG16 trained with Ray Train, its calibration temperature fitted on the validation
split."""

from __future__ import annotations

import logging

from imgclf.evaluation.calibration import fit_temperature
from imgclf.models.classifier import KerasClassifier
from imgclf.models.vgg import VGGArchitecture, weights_file_sha256
from imgclf.training.distributed import train_vgg16_on_ray
from imgclf.training.job import TrainedModel, TrainingJob
from imgclf.training.vgg_loop import class_weights

LOG = logging.getLogger("imgclf.training")


def train_vgg16_models(job: TrainingJob, kinds: tuple[str, ...]) -> list[TrainedModel]:
    """The run's one VGG16 (`kinds` is just vgg16)."""
    del kinds
    settings, data, vgg = job.settings, job.data, job.settings.vgg
    if not vgg.pretrained:
        LOG.warning("VGG16 starts from RANDOM weights (weights=none): no ImageNet transfer; all layers train")
    architecture = VGGArchitecture(num_classes=len(data.classes), image_size=vgg.image_size)
    name = job.model_name("vgg16")
    weights = class_weights(vgg, data.labels_of("train"), len(data.classes))
    trained = train_vgg16_on_ray(settings, architecture, data, f"{name}-{job.run_dir.name}", class_weight=weights,
                                 progress=job.progress)
    val_images, val_labels = data.split("val")
    uncalibrated = KerasClassifier(trained.model, labels=data.classes, input_size=vgg.image_size, card={})
    temperature = fit_temperature(uncalibrated.uncalibrated_probabilities(val_images), val_labels)
    LOG.info("%s: calibration temperature %.4f (fitted on the validation split)", name, temperature)
    card = job.card(name, "vgg16").replace(
        weights_source=vgg.weights, weights_sha256=weights_file_sha256(vgg.weights), pretrained=vgg.pretrained,
        precision=vgg.precision, architecture=architecture.to_dict(), best_epoch=trained.best_epoch,
        temperature=temperature,
        class_weight={data.classes[index]: weight for index, weight in weights.items()} if weights else None)
    classifier = KerasClassifier(trained.model, labels=data.classes, input_size=vgg.image_size, card=card.to_dict(),
                                 temperature=temperature)
    return [TrainedModel(card, classifier, history=trained.history)]
