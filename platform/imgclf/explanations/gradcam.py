"""Grad-CAM (Selvaraju et al., 2017) on VGG16's last convolutional layer that still sees the image as at least
14 × 14 cells: the class score's gradient, averaged over each channel, weighs that channel's activation map; the
positive part of the sum, scaled to [0, 1], is the heatmap.

The layer is block5_conv3 at VGG16's own 224 px (14 × 14, as in the paper); a smaller input uses the last layer of an
earlier block (block3_conv3 at 64 px, block2_conv2 at 32 px). block5_conv3 of a 64 px input is 4 × 4 cells, each
seeing the whole image: its heatmap is a blur around the centre wherever the evidence is.

It follows the Keras example (`tf.GradientTape` over the convolutional base and the head, ~40 lines) rather than a
library: tf-keras-vis targets Keras 3 and our networks are tf_keras ones with the base nested as one layer. The
score is the class's logit (before the softmax), whose gradient does not vanish when the model is sure. A compiled
(OpenVINO) variant has no gradients: its Keras network is loaded, once, on the first explanation.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

import numpy as np

from imgclf.errors import ExplanationError
from imgclf.explanations.explanation import GRAD_CAM, Explainer, ExplanationParts
from imgclf.models.classifier import Classifier, KerasClassifier

if TYPE_CHECKING:
    from imgclf.models.keras_api import keras

CAM_LAYERS = ("block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2")  # deepest first
MIN_CAM_SIDE = 14  # block5_conv3's side at 224 px
LOADED_FOR_EXPLANATIONS: weakref.WeakKeyDictionary[Classifier, keras.Model] = weakref.WeakKeyDictionary()
LOADING = threading.Lock()


def keras_network(classifier: Classifier) -> keras.Model:
    """The classifier's own Keras network, or for a compiled variant its saved Keras network, loaded once."""
    if isinstance(classifier, KerasClassifier):
        return classifier.model
    with LOADING:
        if classifier not in LOADED_FOR_EXPLANATIONS:
            from imgclf.models.artifact import KERAS_FILE, load_keras_file
            from imgclf.runtime import configure_tensorflow

            if classifier.folder is None:
                raise ExplanationError("this model has no saved Keras network to explain it with")
            configure_tensorflow(None)
            LOADED_FOR_EXPLANATIONS[classifier] = load_keras_file(classifier.folder / KERAS_FILE)
        return LOADED_FOR_EXPLANATIONS[classifier]


def runs_on(classifier: Classifier) -> str:
    if isinstance(classifier, KerasClassifier):
        return "the served TensorFlow network"
    if classifier in LOADED_FOR_EXPLANATIONS:
        return "the saved TensorFlow network, loaded for explanations"
    return "the saved TensorFlow network, loaded on the first explanation"


def grad_cam(classifier: Classifier, image: np.ndarray, class_index: int) -> ExplanationParts:
    """The heatmap of `class_index` for one model-sized image, at that size."""
    from imgclf.models.keras_api import tf

    network = keras_network(classifier)
    stages = network_stages(network)
    with tf.GradientTape() as tape:
        conv, hidden = stages(tf.constant(image[np.newaxis]))
        logits = tf.matmul(tf.cast(hidden, tf.float32), stages.softmax.kernel) + stages.softmax.bias
        score = logits[:, class_index]
    gradients = tape.gradient(score, conv)
    weights = tf.reduce_mean(tf.cast(gradients, tf.float32), axis=(1, 2))  # one per channel
    cam = tf.nn.relu(tf.reduce_sum(tf.cast(conv, tf.float32) * weights[:, tf.newaxis, tf.newaxis, :], axis=-1))[0]
    cam = tf.image.resize(cam[..., tf.newaxis], image.shape[:2], method="bilinear")[..., 0].numpy()
    peak = float(cam.max())
    return ExplanationParts(GRAD_CAM, heatmap=(cam / peak if peak > 0 else cam).astype(np.float32))


class NetworkStages:
    """The network split where Grad-CAM looks: image → (last conv activations, the head's last hidden layer), and
    the softmax layer whose kernel and bias give the logits."""

    def __init__(self, network: keras.Model) -> None:
        from imgclf.models.keras_api import keras  # noqa: F811
        from imgclf.models.vgg import BASE_LAYER

        base = network.get_layer(BASE_LAYER)
        at = network.layers.index(base)
        self.to_base = keras.Model(network.input, network.layers[at - 1].output)  # resize + preprocess
        self.base = keras.Model(base.input, [cam_layer(base).output, base.output])
        self.head, self.softmax = network.layers[at + 1 : -1], network.layers[-1]

    def __call__(self, images):
        conv, features = self.base(self.to_base(images), training=False)
        for layer in self.head:
            features = layer(features, training=False)
        return conv, features


def cam_layer(base: keras.Model) -> keras.layers.Layer:
    """The deepest of CAM_LAYERS whose map has at least MIN_CAM_SIDE cells a side (VGG16 takes 32 px and more, where
    block2_conv2 has 16)."""
    layers = (base.get_layer(name) for name in CAM_LAYERS)
    return next(layer for layer in layers if min(layer.output.shape[1:3]) >= MIN_CAM_SIDE)


STAGES: weakref.WeakKeyDictionary[keras.Model, NetworkStages] = weakref.WeakKeyDictionary()


def network_stages(network: keras.Model) -> NetworkStages:
    if network not in STAGES:
        STAGES[network] = NetworkStages(network)
    return STAGES[network]


GRAD_CAM_EXPLAINER = Explainer(GRAD_CAM, grad_cam, runs_on)
