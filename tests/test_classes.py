"""Class coverage on real data: real digits cover 10 classes with KL near 0, one class covers 1,
stacked digits (each channel classified) cover close to all 1000 triples, and fid.json gets them."""

import pytest
import torch

from ganopt.data import load_prepared, per_channel, prepare_dataset
from ganopt.errors import ConfigError
from ganopt.metrics.classes import (
    ClassesConfig,
    class_coverage,
    class_metrics,
)
from ganopt.metrics.features import FeatureNetConfig, class_labels, train_feature_net

CFG = ClassesConfig(min_count=20, min_confidence=0.5)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Prepared digits and stacked digits, and the default domain classifier trained on the digits."""
    root = tmp_path_factory.mktemp("classes")
    prepare_dataset("digits", None, root / "digits")
    prepare_dataset("stacked_digits", {"n_train": 20000, "n_test": 200}, root / "stacked")
    data = load_prepared(root / "digits")
    labels, test_labels = class_labels(root / "digits")
    net, _ = train_feature_net(data.train, labels, data.test, test_labels, FeatureNetConfig())
    return data, test_labels, net, root


def test_real_test_digits_cover_all_ten_classes_near_uniform(digits):
    data, _, net, _ = digits
    out = class_metrics(net, data.test, CFG)
    assert out["n_classes"] == 10 and out["classes_covered"] == 10
    assert out["kl_classes"] < 0.05 and out["classes_confident_frac"] > 0.9


def test_a_single_class_covers_one_with_kl_log10(digits):
    data, test_labels, net, _ = digits
    sevens = data.test[test_labels == 7]
    out = class_metrics(net, sevens, ClassesConfig(min_count=5))
    assert out["classes_covered"] == 1
    assert out["kl_classes"] > 0.8 * torch.log(torch.tensor(10.0)).item()


def test_min_count_and_confidence_decide_coverage():
    classes = torch.tensor([[0]] * 30 + [[1]] * 10 + [[2]] * 30)
    confidence = torch.cat([torch.full((40, 1), 0.9), torch.full((30, 1), 0.3)])
    out = class_coverage(classes, confidence, 3, CFG)
    assert out["classes_covered"] == 1                       # class 1 has 10 < 20; class 2 is not confident
    assert out["classes_confident_frac"] == pytest.approx(40 / 70)
    uniform = class_coverage(torch.arange(3).repeat(20)[:, None], torch.ones(60, 1), 3, CFG)
    assert uniform["classes_covered"] == 3 and uniform["kl_classes"] == pytest.approx(0.0)


def test_stacked_digits_1000_distinct_triples_are_close_to_1000_modes(digits):
    _, _, net, root = digits
    stacked = load_prepared(root / "stacked")
    labels, _ = class_labels(root / "stacked")
    assert stacked.train.shape[1:] == (3, 8, 8) and labels.shape == (20000, 3)
    modes = labels[:, 0] * 100 + labels[:, 1] * 10 + labels[:, 2]
    first = torch.tensor([int((modes == m).nonzero()[0]) for m in range(1000)])  # one image per triple
    out = class_metrics(net, stacked.train[first], ClassesConfig(min_count=1))
    assert out["n_classes"] == 1000 and out["classes_covered"] >= 950
    collapsed = class_metrics(net, stacked.train[first[:1]].expand(500, -1, -1, -1), ClassesConfig(min_count=1))
    assert collapsed["classes_covered"] == 1


def test_stacked_digits_train_triples_come_from_train_digits(digits):
    data, _, _, root = digits
    stacked = load_prepared(root / "stacked")
    channels, _ = per_channel(stacked.train[:50], class_labels(root / "stacked")[0][:50])
    assert channels.shape == (150, 1, 8, 8)
    flat = data.train.flatten(1)
    assert all((flat == image.flatten()).all(1).any() for image in channels)


def test_per_channel_needs_one_label_per_channel():
    with pytest.raises(ConfigError, match="one label per channel"):
        per_channel(torch.zeros(4, 3, 8, 8), torch.zeros(4, 2, dtype=torch.long))


def test_compute_fid_records_class_coverage(digits, tmp_path):
    from ganopt import io
    from ganopt.config import from_dict
    from ganopt.gan.checkpoint import generator_record
    from ganopt.gan.evaluate import ImageScorer, compute_fid
    from ganopt.gan.netconfig import NetConfig
    from ganopt.gan.nets import build_pair
    from ganopt.metrics.features import FeatureNetConfig, load_domain, save_feature_net
    from ganopt.metrics.fid import FidConfig, build_reference

    data, _, net, _ = digits
    save_feature_net(tmp_path / "feature_net.pt", net, FeatureNetConfig(), {})
    cfg = from_dict(FidConfig, {"domain": {"n_samples": 100}, "classes": {"n_samples": 300},
                                "kid": {"subsets": 2, "subset_size": 50}})
    source = load_domain(tmp_path / "feature_net.pt")
    net_cfg = NetConfig(arch="mlp", z_dim=4, width=16, depth=1)
    G, _ = build_pair(net_cfg, (1, 8, 8))
    io.torch_save(tmp_path / "run" / "checkpoint.pt", generator_record(net_cfg, (1, 8, 8), G, 5))
    io.write_json(tmp_path / "run" / "status.json", {"status": "ok", "step": 5, "reason": None})
    scorer = ImageScorer(cfg, {"domain": (source, build_reference(source, data.train, data.test, "digits", cfg))})
    (record,) = compute_fid(tmp_path / "run", scorer, cfg)["records"]
    assert record["n_classes"] == 10 and 0 <= record["classes_covered"] <= 10 and record["kl_classes"] >= 0
