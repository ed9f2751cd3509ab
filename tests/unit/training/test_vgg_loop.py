"""Training phases: which layers train, at which rate, over which epochs."""

from imgclf.config import VGGSettings
from imgclf.training.vgg_loop import Phase, training_phases


def test_from_scratch_trains_every_layer_for_all_epochs():
    assert training_phases(VGGSettings(weights="none", epochs=4)) == [Phase("all", 1e-4, 0, 4)]


def test_pretrained_trains_the_head_then_fine_tunes_block5(tmp_path):
    weights = tmp_path / "base.h5"
    weights.write_bytes(b"x")
    settings = VGGSettings(weights=str(weights), epochs=3, fine_tune_epochs=2, learning_rate=1e-3,
                           fine_tune_learning_rate=1e-5)
    assert training_phases(settings) == [Phase("head", 1e-3, 0, 3), Phase("last-block", 1e-5, 3, 5)]


def test_pretrained_without_fine_tuning_is_one_head_phase():
    assert training_phases(VGGSettings(weights="imagenet", epochs=2)) == [Phase("head", 1e-4, 0, 2)]
