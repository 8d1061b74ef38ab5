"""The DataModule: splits, subsets, k-fold, sampling, augmentation and repeatability."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from fer.data.augment import build_augment
from fer.data.datamodule import FERDataModule, fold_indices, subset_indices
from fer.data.hdf5 import DatasetError

from conftest import REPO, make_faces


def test_splits_are_training_publictest_privatetest(tiny_h5):
    dm = FERDataModule(str(tiny_h5), batch_size=16, num_workers=0)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (112, 112, 112)
    images, labels = next(iter(dm.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape == (16, 48, 48) and labels.shape == (16,)


def test_limit_count_and_fraction():
    labels = np.arange(100) % 7
    assert len(subset_indices(labels, 10, seed=0)) == 10
    assert len(subset_indices(labels, 0.25, seed=0)) == 25
    assert len(subset_indices(labels, None, seed=0)) == 100
    np.testing.assert_array_equal(subset_indices(labels, 10, 1), subset_indices(labels, 10, 1))
    with pytest.raises(ValueError, match="positive"):
        subset_indices(labels, -3, seed=0)


def test_kfold_is_stratified_disjoint_and_complete():
    labels = np.repeat(np.arange(7), 10)
    held_out = []
    for fold in range(5):
        train, val = fold_indices(labels, 5, fold, seed=0)
        assert not set(train) & set(val) and len(train) + len(val) == 70
        assert np.bincount(labels[val], minlength=7).tolist() == [2] * 7
        held_out += list(val)
    assert sorted(held_out) == list(range(70))
    with pytest.raises(ValueError, match="cv_fold"):
        fold_indices(labels, 5, 5, seed=0)


def test_cv_fold_replaces_publictest_as_validation(tiny_h5):
    dm = FERDataModule(str(tiny_h5), num_workers=0, cv_folds=4, cv_fold=1)
    dm.setup()
    assert (len(dm.train_set), len(dm.val_set), len(dm.test_set)) == (84, 28, 112)


def test_balanced_sampler_evens_out_classes(tiny_h5):
    dm = FERDataModule(str(tiny_h5), batch_size=16, num_workers=0, sampler="balanced")
    dm.setup()
    keep = np.flatnonzero(dm.train_set.labels != 1)
    keep = np.concatenate([keep, np.flatnonzero(dm.train_set.labels == 1)[:2]])  # rare 'disgust'
    dm.train_set.images, dm.train_set.labels = dm.train_set.images[keep], dm.train_set.labels[keep]
    # ten epochs (960 draws, unseeded): the share is 1/7 +- 0.011, so the bound holds by 5 sigma
    seen = torch.cat([y for _ in range(10) for _, y in dm.train_dataloader()])
    assert (seen == 1).float().mean() > 0.08  # about 1/7, not the 2/98 it has in the data
    weights = dm.class_weights()
    counts = dm.class_counts()
    assert weights[1] == max(weights)
    assert np.allclose(np.array(weights) * counts, counts.sum() / 7)  # each class weighs the same


def test_augmentation_changes_images_and_repeats_with_the_seed():
    face = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    strong = {
        "crop_padding": 4,
        "hflip": 0.5,
        "rotate": 15,
        "scale": 0.1,
        "translate": 0.05,
        "brightness_contrast": 0.2,
        "erasing": 0.5,
    }
    outs = []
    for _ in range(2):
        transform = build_augment(strong)
        transform.set_random_seed(3)
        outs.append([transform(image=face)["image"] for _ in range(5)])
    assert all(o.shape == (48, 48) and o.dtype == np.uint8 for o in outs[0])
    assert any((o != face).any() for o in outs[0])
    assert all((a == b).all() for a, b in zip(*outs))
    assert build_augment({"crop_padding": 0, "hflip": 0}) is None
    with pytest.raises(ValueError, match="valid keys"):
        build_augment({"motion_blur": 3})


def test_camera_preset_changes_faces_as_a_camera_would():
    """Each camera effect alone changes a face, keeps its shape and type, and stays close to it
    (exposure and softness, not a different picture)."""
    rng = np.random.default_rng(0)
    face = cv2.GaussianBlur(rng.integers(0, 255, (48, 48)).astype(np.float32), (0, 0), 1.5)
    face = np.clip(face, 0, 255).astype(np.uint8)
    for key, value in (("gamma", 0.3), ("blur", 1.0), ("downscale", 1.0), ("jpeg", 1.0)):
        transform = build_augment({key: value})
        transform.set_random_seed(1)
        outs = [transform(image=face)["image"] for _ in range(8)]
        assert all(o.shape == (48, 48) and o.dtype == np.uint8 for o in outs), key
        changed = [o for o in outs if (o != face).any()]
        assert changed, key
        assert max(np.abs(o.astype(int) - face).mean() for o in changed) < 40, key
    camera = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "augment" / "camera.yaml"))
    assert build_augment(camera) is not None


def test_missing_dataset_says_how_to_make_it(tmp_path):
    dm = FERDataModule(str(tmp_path / "fer2013.h5"))
    with pytest.raises(DatasetError, match="fer-prepare SOURCE -o"):
        dm.setup()


def test_val_and_test_are_read_in_a_fixed_shuffled_order(tiny_h5):
    """The file stores splits sorted by class: a couple of batches must still mix emotions, the
    order must not depend on the run's seed, and every face is there once."""
    orders = []
    for seed in (0, 1):
        dm = FERDataModule(str(tiny_h5), batch_size=16, seed=seed)
        dm.setup()
        first = next(iter(dm.val_dataloader()))[1]
        assert len(set(first.tolist())) >= 4
        assert sorted(dm.test_set.index) == list(range(len(dm.test_set)))
        orders.append(dm.val_set.index.copy())
    np.testing.assert_array_equal(*orders)


@pytest.fixture(scope="module")
def faces64(tmp_path_factory):
    """A FER2013-classed file of 64x64 faces (upsampled tiny faces), 8 per class a split."""
    from fer.data.hdf5 import DatasetMeta, write_dataset

    splits = {}
    for i, usage in enumerate(("Training", "PublicTest", "PrivateTest")):
        images, labels = make_faces(8, seed=i)
        big = np.repeat(np.repeat(images, 2, axis=1), 2, axis=2)[:, :64, :64]
        splits[usage] = (np.ascontiguousarray(big), labels)
    path = tmp_path_factory.mktemp("faces64") / "faces64.h5"
    write_dataset(path, splits, "test", "", meta=DatasetMeta(image_size=64))
    return path


@pytest.mark.parametrize("augment", sorted(p.stem for p in (REPO / "conf" / "augment").glob("*")))
def test_every_augmentation_keeps_the_datasets_size(faces64, augment):
    """Training batches come at the file's size, as validation's do (not FER2013's 48)."""
    config = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "augment" / f"{augment}.yaml"))
    data = FERDataModule(str(faces64), batch_size=8, num_workers=0, augment=config)
    data.setup()
    train, _ = next(iter(data.train_dataloader()))
    val, _ = next(iter(data.val_dataloader()))
    assert tuple(train.shape) == (8, 64, 64) and tuple(val.shape) == (16, 64, 64), augment


def test_simclr_views_keep_the_datasets_size(faces64):
    from fer.ssl.data import PretrainData

    views = OmegaConf.to_container(OmegaConf.load(REPO / "conf" / "pretrain.yaml").ssl.views)
    data = PretrainData(str(faces64), views=views, batch_size=8, num_workers=0, bank_size=14)
    data.setup()
    first, second = next(iter(data.train_dataloader()))
    assert first.shape[-2:] == second.shape[-2:] == (64, 64)
