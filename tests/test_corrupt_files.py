"""Every file a CLI command reads, fed to it broken: the command exits non-zero with one line on
stderr that names the file (and what to do), never a traceback. Commands run in-process through
`ganopt.cli.main`, so an escaping exception fails the test instead of printing a traceback."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from test_data import make_tiny_cifar10, make_tiny_mnist
from test_fid import ChannelMeans, _write_run

from ganopt import io
from ganopt.cli import main
from ganopt.data import prepare_dataset
from ganopt.metrics.features import (
    FeatureNetConfig,
    save_feature_net,
    sha1_file,
    train_feature_net,
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Prepared ring8 (points) and tiny MNIST (images) folders, copied by each test that breaks them."""
    root = tmp_path_factory.mktemp("prepared")
    prepare_dataset("ring8", {"n_train": 64, "n_test": 16}, root / "ring8")
    make_tiny_mnist(root / "raw")
    prepare_dataset("mnist", {"root": str(root / "raw")}, root / "mnist")
    return {"ring8": root / "ring8", "mnist": root / "mnist"}


def one_error_line(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """Run `ganopt ARGV`; assert a non-zero exit with exactly one stderr line; return that line."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err.strip()


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def edit_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[0] = ord("x")
    path.write_bytes(bytes(data))


def reseal(data_dir: Path) -> None:
    """Make the manifest's sha256 match a broken data.pt, so the reader meets the broken bytes."""
    manifest = json.loads((data_dir / "manifest.json").read_text())
    io.write_json(data_dir / "manifest.json", manifest | {"sha256": io.file_digest(data_dir / "data.pt")})


# --- prepare-data: the raw dataset files, read through torchvision -----------------------------------

@pytest.mark.parametrize("name, file, spoil", [
    ("mnist", "train-images-idx3-ubyte", lambda p: p.write_bytes(b"garbage" * 50)),
    ("mnist", "t10k-labels-idx1-ubyte", lambda p: p.write_bytes(b"")),
    ("cifar10", "data_batch_3", lambda p: p.write_bytes(b"garbage" * 50)),
    ("cifar10", "test_batch", truncate),
    ("cifar10", "batches.meta", lambda p: p.write_bytes(b"")),
])
def test_garbage_dataset_files(tmp_path, capsys, name, file, spoil) -> None:
    if name == "mnist":
        make_tiny_mnist(tmp_path)
        path = tmp_path / "MNIST" / "raw" / file
    else:
        make_tiny_cifar10(tmp_path)
        path = tmp_path / "cifar-10-batches-py" / file
    spoil(path)
    job = {"dataset": name, "data": {"root": str(tmp_path)} | ({"verify_checksums": False} if name == "cifar10" else {})}
    line = one_error_line(capsys, ["prepare-data", "--config", json.dumps(job), "--out", str(tmp_path / "out")])
    assert file in line and str(path.parent) in line and "replace them with the official files" in line


# --- train-gan: the prepared dataset, the tuning result, the job's own types --------------------------

def _manifest(spoil: Callable[[Path], None]) -> Callable[[Path], Path]:
    def apply(data_dir: Path) -> Path:
        spoil(data_dir / "manifest.json")
        return data_dir / "manifest.json"
    return apply


def _data_pt(spoil: Callable[[Path], None]) -> Callable[[Path], Path]:
    def apply(data_dir: Path) -> Path:
        spoil(data_dir / "data.pt")
        reseal(data_dir)
        return data_dir / "data.pt"
    return apply


def _without_sha256(path: Path) -> None:
    manifest = json.loads(path.read_text())
    del manifest["sha256"]
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("spoil, expected", [
    (_manifest(_without_sha256), "lacks the key 'sha256'"),
    (_manifest(edit_one_byte), "is not a readable JSON file"),
    (_manifest(lambda p: p.write_text("")), "is not a readable JSON file"),
    (_manifest(truncate), "is not a readable JSON file"),
    (_manifest(lambda p: p.write_text("[1, 2]")), "holds a list where a mapping is expected"),
    (_data_pt(truncate), "is not a readable torch file"),
    (_data_pt(lambda p: p.write_bytes(b"")), "is not a readable torch file"),
    (_data_pt(lambda p: torch.save({"train": torch.zeros(2)}, p)), "lacks the key 'test'"),
], ids=["manifest-no-sha256", "manifest-one-byte", "manifest-empty", "manifest-truncated", "manifest-list",
        "data-truncated", "data-empty", "data-no-test"])
def test_broken_prepared_dataset(prepared, tmp_path, capsys, spoil, expected) -> None:
    data_dir = shutil.copytree(prepared["ring8"], tmp_path / "data")
    path = spoil(data_dir)
    job = {"dataset": "ring8", "optimizer": "adam", "seeds": [0], "data_dir": str(data_dir), "lr_g": 1e-3, "lr_d": 1e-3}
    line = one_error_line(capsys, ["train-gan", "--config", json.dumps(job), "--out", str(tmp_path / "run")])
    assert f"'{path}' {expected}" in line and "rerun the prepare_data rule" in line


@pytest.mark.parametrize("content, expected", [
    ('{"lr_g": 0.001, "lr_', "is not a readable JSON file"),
    ('{"lr_g": 0.001}', "lacks the key 'lr_d'"),
    ('{"lr_g": 0.001, "lr_d": "fast"}', "has a str under 'lr_d', expected int or float"),
])
def test_broken_tuning_result(prepared, tmp_path, capsys, content, expected) -> None:
    best = tmp_path / "best.json"
    best.write_text(content)
    job = {"dataset": "ring8", "optimizer": "adam", "seeds": [0], "data_dir": str(prepared["ring8"]),
           "tune_best": str(best)}
    line = one_error_line(capsys, ["train-gan", "--config", json.dumps(job), "--out", str(tmp_path / "run")])
    assert f"'{best}' {expected}" in line and "rerun the tune_lr rule" in line


@pytest.mark.parametrize("change, key", [
    ({"seeds": ["1"]}, "'train-gan job.seeds[0]' must be an integer, got str '1'"),
    ({"seeds": [2, 2]}, "'seeds' must be a non-empty list of distinct seeds, got [2, 2]"),
    ({"train": {"steps": "100"}}, "'train-gan job.train.steps' must be an integer, got str '100'"),
    ({"train": {"steps": 10.5}}, "'train-gan job.train.steps' must be an integer, got float 10.5"),
    ({"lr_g": "0.1"}, "'train-gan job.lr_g' must be a number, got str '0.1'"),
    ({"train": {"net": {"width": True}}}, "'train-gan job.train.net.width' must be an integer, got bool True"),
])
def test_job_json_with_wrong_types(prepared, tmp_path, capsys, change, key) -> None:
    job = {"dataset": "ring8", "optimizer": "adam", "seeds": [0], "data_dir": str(prepared["ring8"]),
           "lr_g": 1e-3, "lr_d": 1e-3} | change
    line = one_error_line(capsys, ["train-gan", "--config", json.dumps(job), "--out", str(tmp_path / "run")])
    assert key in line


def test_natgrad_job_with_a_string_step_count(tmp_path, capsys) -> None:
    line = one_error_line(capsys, ["natgrad-warmup", "--config", '{"steps": "10"}', "--out", str(tmp_path)])
    assert "'natgrad.warmup.steps' must be an integer, got str '10'" in line


# --- compute-fid: the run folder's files, reference statistics and feature nets ----------------------

def fid_job(data_dir: Path, feature_dir: Path, fid: dict | None = None) -> str:
    return json.dumps({"dataset": "d", "optimizer": "adam", "seeds": [0], "data_dir": str(data_dir),
                       "feature_dir": str(feature_dir), "fid": fid or {}})


@pytest.mark.parametrize("file, spoil, expected", [
    ("status.json", truncate, "is not a readable JSON file"),
    ("status.json", lambda p: p.write_text('{"status": "ok", "step": "10"}'), "has a str under 'step'"),
    ("run.json", edit_one_byte, "is not a readable JSON file"),
    ("snapshots/step5.pt", lambda p: p.write_bytes(b""), "is not a readable torch file"),
    ("snapshots/step5.pt", lambda p: torch.save({"G": {}}, p), "lacks the key 'net'"),
    ("checkpoint.pt", truncate, "is not a readable torch file"),
], ids=["status-truncated", "status-step-string", "run-json-edited", "snapshot-empty", "snapshot-no-net",
        "checkpoint-truncated"])
def test_broken_run_folder(prepared, tmp_path, capsys, file, spoil, expected) -> None:
    run = tmp_path / "runs" / "seed0"
    _write_run(run, (2,), [5, 10])
    if file == "checkpoint.pt":  # the checkpoint is read when no snapshot is at the final step
        (run / "snapshots" / "step10.pt").unlink()
    spoil(run / file)
    line = one_error_line(capsys, ["compute-fid", "--config", fid_job(prepared["ring8"], tmp_path),
                                   "--out", str(run.parent)])
    assert f"'{run / file}' {expected}" in line and "rerun" in line


@pytest.mark.parametrize("out", ["empty-folder", "a-file", "missing"])
def test_compute_fid_out_that_is_not_a_run_folder(prepared, tmp_path, capsys, out) -> None:
    folder = tmp_path / out / "seed0"  # where --out should hold the run of seed 0
    if out == "empty-folder":
        folder.mkdir(parents=True)
    elif out == "a-file":
        folder.parent.mkdir()
        folder.write_text("x")
    line = one_error_line(capsys, ["compute-fid", "--config", fid_job(prepared["ring8"], tmp_path),
                                   "--out", str(folder.parent)])
    assert f"'{folder / 'run.json'}'" in line and "--out must hold the finished training runs" in line


@pytest.fixture
def feature_dir(prepared, tmp_path) -> Path:
    """A domain feature net of the tiny MNIST (one epoch) in tmp_path/features."""
    from ganopt.data import load_prepared
    from ganopt.metrics.features import class_labels

    data = load_prepared(prepared["mnist"])
    cfg = FeatureNetConfig(epochs=1, width=4, feat_dim=4)
    net, _ = train_feature_net(data.train, class_labels(prepared["mnist"])[0], data.test, None, cfg)
    save_feature_net(tmp_path / "features" / "feature_net.pt", net, cfg, {})
    return tmp_path / "features"


@pytest.mark.parametrize("spoil, expected", [
    (truncate, "is not a readable torch file"),
    (lambda p: torch.save({"arch": {"width": 3}, "state_dict": {}}, p), "is not a domain feature net"),
])
def test_broken_feature_net(prepared, feature_dir, capsys, spoil, expected) -> None:
    path = feature_dir / "feature_net.pt"
    spoil(path)
    job = json.dumps({"dataset": "mnist", "source": "domain", "data_dir": str(prepared["mnist"])})
    line = one_error_line(capsys, ["reference-stats", "--config", job, "--out", str(feature_dir)])
    assert f"'{path}' {expected}" in line and "rerun the feature_net rule" in line


def _npz_without_kid_feats(path: Path) -> None:
    import numpy as np

    with open(path, "wb") as handle:
        np.savez(handle, mu=np.zeros(2), sigma=np.eye(2))


@pytest.mark.parametrize("spoil, expected", [
    (lambda p: p.write_bytes(b"PK\x03\x04 garbage"), "is not a readable npz file"),
    (lambda p: p.write_bytes(b""), "is not a readable npz file"),
    (_npz_without_kid_feats, "is not a readable npz file with mu, sigma, kid_feats, meta (KeyError"),
], ids=["garbage", "empty", "no-kid-feats"])
def test_broken_reference_stats(prepared, feature_dir, tmp_path, capsys, spoil, expected) -> None:
    path = feature_dir / "ref_stats_domain.npz"
    spoil(path)
    run = tmp_path / "runs" / "seed0"
    _write_run(run, (1, 28, 28), [5])
    line = one_error_line(capsys, ["compute-fid", "--config", fid_job(prepared["mnist"], feature_dir),
                                   "--out", str(run.parent)])
    assert f"'{path}' {expected}" in line and "rerun the reference_stats rule" in line


def test_missing_configured_inception_file(prepared, tmp_path, capsys) -> None:
    missing = tmp_path / "nowhere" / "inception.pt"
    job = json.dumps({"dataset": "mnist", "source": "inception", "data_dir": str(prepared["mnist"]),
                      "fid": {"sources": ["inception"], "inception": {"path": str(missing)}}})
    line = one_error_line(capsys, ["reference-stats", "--config", job, "--out", str(tmp_path)])
    assert f"fid.inception.path '{missing}' is not a file" in line and "docs/scale-out.md" in line


@pytest.mark.parametrize("sha1", [None, "0" * 40])
def test_inception_file_with_another_sha1(prepared, tmp_path, capsys, sha1) -> None:
    path = tmp_path / "inception.pt"
    torch.jit.script(ChannelMeans()).save(str(path))
    job = json.dumps({"dataset": "mnist", "source": "inception", "data_dir": str(prepared["mnist"]),
                      "fid": {"sources": ["inception"], "inception": {"path": str(path), "sha1": sha1}}})
    line = one_error_line(capsys, ["reference-stats", "--config", job, "--out", str(tmp_path)])
    assert f"'{path}' has sha1 {sha1_file(path)}, expected" in line and "fid.inception.sha1" in line


# --- toy-compare: the toy_theorem CSVs ------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "a,b\n1,2\n", '"unclosed\n'])
def test_broken_toy_csv(tmp_path, capsys, content) -> None:
    (tmp_path / "sgda.csv").write_text(content)
    job = json.dumps({"optimizers": ["sgda"], "collapse_min": 0.5, "strict_min": 0.2, "seed_share_min": 0.5,
                      "cone": 0.2})
    line = one_error_line(capsys, ["toy-compare", "--config", job, "--out", str(tmp_path)])
    assert f"'{tmp_path / 'sgda.csv'}'" in line and "rerun the toy_theorem rule of sgda" in line


@pytest.mark.parametrize("command, key", [
    ("prepare-data", "'prepare-data job' lacks the required key(s) 'dataset'"),
    ("train-gan", "'train-gan job' lacks the required key(s) 'dataset', 'optimizer', 'seeds', 'data_dir'"),
    ("tune-lr", "'tune-lr job' lacks the required key(s) 'dataset', 'optimizer', 'data_dir', 'grid'"),
    ("feature-net", "'feature-net job' lacks the required key(s) 'dataset', 'data_dir'"),
    ("reference-stats", "'reference-stats job' lacks the required key(s) 'dataset', 'source', 'data_dir'"),
    ("compute-fid", "'compute-fid job' lacks the required key(s) 'dataset', 'optimizer', 'seeds', 'data_dir'"),
    ("toy-compare", "'toy-compare job' lacks the required key(s) 'optimizers', 'collapse_min', 'strict_min'"),
])
def test_job_without_its_required_keys(tmp_path, capsys, command, key) -> None:
    assert key in one_error_line(capsys, [command, "--config", "{}", "--out", str(tmp_path)])


def test_report_without_its_inputs(in_tmp, capsys) -> None:
    """An input no reader names (here the claims table) still ends in one line naming the file."""
    line = one_error_line(capsys, ["study-report", "--config", "{}", "--out", str(in_tmp / "out")])
    assert "claims.csv" in line


# --- --config itself ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, expected", [
    (None, '{"dataset": ', "--config is not valid JSON (inline JSON"),
    ("job.json", '{"dataset": ', "--config is not valid JSON (file '{path}'"),
    ("job.yaml", "dataset: [ring8", "config file '{path}' is not valid YAML"),
    ("job.json", b"\x80\x81\xff", "--config file '{path}' cannot be read as text"),
    ("job.json", "[1, 2]", "--config (file '{path}') must hold a mapping of job settings, not a list"),
    ("missing.json", None, "--config '{path}' is neither inline JSON nor an existing file"),
])
def test_bad_config_argument(tmp_path, capsys, name, content, expected) -> None:
    path = tmp_path / name if name else None
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif path is not None and content is not None:
        path.write_text(content)
    line = one_error_line(capsys, ["prepare-data", "--config", str(path) if path else content,
                                   "--out", str(tmp_path / "out")])
    assert expected.format(path=path) in line


# --- files that read well but do not fit together ---------------------------------------------------

@pytest.mark.parametrize("edit, expected", [
    ({"shape": [3]}, "holds train points of shape [64, 2] where its manifest '{manifest}' says [64, 3]"),
    ({"counts": {"train": 64, "test": 20}}, "holds test points of shape [16, 2] where its manifest '{manifest}' says [20, 2]"),
], ids=["shape", "count"])
def test_dataset_points_that_do_not_match_the_manifest(prepared, tmp_path, capsys, edit, expected) -> None:
    data_dir = shutil.copytree(prepared["ring8"], tmp_path / "data")
    manifest = data_dir / "manifest.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()) | edit))
    job = {"dataset": "ring8", "optimizer": "adam", "seeds": [0], "data_dir": str(data_dir), "lr_g": 1e-3, "lr_d": 1e-3}
    line = one_error_line(capsys, ["train-gan", "--config", json.dumps(job), "--out", str(tmp_path / "runs")])
    assert f"'{data_dir / 'data.pt'}' {expected.format(manifest=manifest)}" in line, line
    assert "rerun the prepare_data rule" in line


@pytest.mark.parametrize("config_net", [False, True], ids=["data-shape", "config-net"])
def test_snapshot_of_another_architecture(prepared, tmp_path, capsys, config_net) -> None:
    """A generator file in a run's snapshots folder from another run (another dataset's shape, or
    another net than the run's config) is named as such, not a matrix-size RuntimeError."""
    from test_fid import _write_run

    from ganopt.gan.checkpoint import generator_record
    from ganopt.gan.netconfig import NetConfig
    from ganopt.gan.nets import build_pair

    run = tmp_path / "runs" / "seed0"   # compute-fid scores <out>/seed<k> of its seeds
    _write_run(run, (2,), [5, 10])
    if config_net:  # as train_gan writes run.json: the job, its net included
        io.write_json(run / "run.json", {"run_key": None, "job": {"train": {"net": {
            "arch": "mlp", "z_dim": 4, "width": 16, "depth": 1}}}})
        foreign, shape = NetConfig(arch="mlp", z_dim=8, width=32, depth=2), (2,)
    else:
        foreign, shape = NetConfig(arch="mlp", z_dim=4, width=16, depth=1), (1, 8, 8)
    G, _ = build_pair(foreign, shape)
    io.torch_save(run / "snapshots" / "step5.pt", generator_record(foreign, shape, G, 5))
    line = one_error_line(capsys, ["compute-fid", "--config", fid_job(prepared["ring8"], tmp_path),
                                   "--out", str(run.parent)])
    assert f"'{run / 'snapshots' / 'step5.pt'}' is a generator of another architecture than its run (" in line, line
    assert ("net {'arch': 'mlp', 'z_dim': 8" if config_net else "shape [1, 8, 8] here, [2] in its run") in line, line


def _covariance_of_another_size(path: Path) -> None:
    import numpy as np

    with np.load(path) as blob:
        arrays = {key: blob[key] for key in blob.files}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays | {"sigma": arrays["sigma"][:, :-1]})


def test_reference_stats_with_a_wrong_covariance_shape(prepared, feature_dir, tmp_path, capsys) -> None:
    job = json.dumps({"dataset": "mnist", "source": "domain", "data_dir": str(prepared["mnist"])})
    assert main(["reference-stats", "--config", job, "--out", str(feature_dir)]) == 0
    path = feature_dir / "ref_stats_domain.npz"
    _covariance_of_another_size(path)
    run = tmp_path / "runs" / "seed0"
    _write_run(run, (1, 28, 28), [5])
    line = one_error_line(capsys, ["compute-fid", "--config", fid_job(prepared["mnist"], feature_dir),
                                   "--out", str(run.parent)])
    assert (f"'{path}' holds statistics of mismatched shapes: mean (4,), covariance (4, 3), KID features" in line
            and "rerun the reference_stats rule" in line), line
