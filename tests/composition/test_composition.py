"""Composed restoration against the merged model (trainer.merge's weight folding), per-image
weights from the estimator and from labels, and the refusals."""
import numpy as np
import pytest

from degrade.errors import ConfigError
from trainer.adapters import AdapterError, read_adapter
from trainer.adapters.merging import merge_into_model
from trainer.routing import RouterConfig, RoutingError, route
from trainer.checkpoint import load_model
from trainer.composition import (EstimatedWeights, OracleWeights, adapter_files,
                                 evaluate_weighted, load_composed, restore_weighted,
                                 weight_source)
from trainer.mixtures import LabelsError
from trainer.restore import restore_image


def merged_output(kit, names, weights, image):
    """The reference: the adapters' weighted deltas folded into a plain copy of the base."""
    base, _ = load_model(kit / "base.safetensors")
    files = [read_adapter(kit / "adapters" / f"{name}.safetensors") for name in names]
    return restore_image(merge_into_model(base, files, weights).eval(), image)


def test_folder_of_adapters_loads_under_task_names(kit):
    model, adapters = load_composed(kit / "base.safetensors", [kit / "adapters"])
    assert adapters.names == ("blur", "jpeg", "noise")
    assert [t.ops for t in adapters.tasks][0] == ("gaussian_blur", "motion_blur")


def test_composed_restoration_equals_the_merged_model(kit):
    model, adapters = load_composed(kit / "base.safetensors", [kit / "adapters"])
    image = np.random.default_rng(1).integers(0, 256, (24, 32, 3), dtype=np.uint8)
    weights = np.array([0.5, 0.3, 0.2])
    out = restore_weighted(model, adapters, weights, image, "cpu")
    reference = merged_output(kit, adapters.names, weights, image)
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1
    # and the weights matter: another mix gives another image
    other = restore_weighted(model, adapters, np.array([0.0, 0.0, 1.0]), image, "cpu")
    assert np.abs(other.astype(int) - out.astype(int)).max() > 1


def test_oracle_weights_per_image_follow_the_labels(kit):
    from pipelines.pairs import iter_pairs
    from trainer.mixtures import read_labels

    model, adapters = load_composed(kit / "base.safetensors", [kit / "adapters"])
    source = weight_source("oracle", adapters, labels_path=kit / "mixed",
                           config=RouterConfig("probability", None, "sum"))
    report, used = evaluate_weighted(model, adapters, source, iter_pairs(kit / "mixed"), "cpu")
    assert len(report.scores) == 3
    # blur+noise: blur and noise present, jpeg not -> sum-normalised 0.5 / 0 / 0.5
    np.testing.assert_allclose(used, [[0.5, 0.0, 0.5]] * 3)
    labels = read_labels(kit / "mixed")
    for (name, lq, gt), score in zip(iter_pairs(kit / "mixed"), report.scores):
        assert name in labels
        reference = merged_output(kit, adapters.names, [0.5, 0.0, 0.5], lq)
        from trainer.metrics import psnr
        assert score.psnr == pytest.approx(psnr(reference, gt), abs=0.2)


def test_estimated_weights_are_the_router_on_the_estimate(kit):
    from trainer.estimator.files import load_estimator
    from trainer.estimator.inference import estimate_image
    from trainer.routing import Estimate

    model, adapters = load_composed(kit / "base.safetensors", [kit / "adapters"])
    config = RouterConfig(top_k=2)
    source = weight_source("auto", adapters, kit / "estimator.safetensors", config=config)
    assert isinstance(source, EstimatedWeights)
    image = np.random.default_rng(2).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    estimator, _ = load_estimator(kit / "estimator.safetensors")
    expected = route(adapters.tasks, Estimate.from_op_estimates(
        estimate_image(estimator, image, 32)), config)
    np.testing.assert_allclose(source.weights("x", image), expected)
    assert (source.weights("x", image) > 0).sum() <= 2


def test_refusals(kit):
    base = kit / "base.safetensors"
    with pytest.raises(AdapterError, match="different base model"):
        load_composed(base, [kit / "adapters" / "blur.safetensors", kit / "foreign.safetensors"])
    with pytest.raises(ConfigError, match="no such adapter file or folder"):
        adapter_files([kit / "nothing"])
    empty = kit / "empty"
    empty.mkdir(exist_ok=True)
    with pytest.raises(ConfigError, match="no adapter files"):
        adapter_files([empty])
    model, adapters = load_composed(base, [kit / "adapters" / "blur.safetensors",
                                           kit / "haze.safetensors"])
    with pytest.raises(RoutingError, match="'haze' restores haze, which the estimator"):
        weight_source("auto", adapters, kit / "estimator.safetensors")
    with pytest.raises(ConfigError, match="trainer estimator train"):
        weight_source("auto", adapters)
    with pytest.raises(ConfigError, match="labels file"):
        weight_source("oracle", adapters)
    with pytest.raises(ConfigError, match="3 weight.s. given for 2 adapter"):
        weight_source("0.2,0.3,0.5", adapters)
    oracle = weight_source("oracle", adapters, labels_path=kit / "mixed")
    assert isinstance(oracle, OracleWeights)
    with pytest.raises(LabelsError, match="no label for image 'stranger'"):
        oracle.weights("stranger", None)
