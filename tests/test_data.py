import numpy as np
import pytest
from PIL import Image

from restora.data import PairStream, image_paths, random_crop, skimage_photos, wallpaper_paths
from restora.errors import RestoraError


@pytest.fixture()
def folder(tmp_path, photo):
    for i in range(3):
        a = np.round(np.roll(photo, 40 * i, axis=1) * 255).astype(np.uint8)
        Image.fromarray(a).save(tmp_path / f"p{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_pair_stream_is_deterministic_and_indexable(folder):
    s1 = PairStream(image_paths(folder), size=64, seed=3)
    s2 = PairStream(image_paths(folder), size=64, seed=3)
    for i in (0, 7, 5, 7):
        a, b = s1[i], s2[i]
        assert a.degraded.shape == a.clean.shape == (64, 64, 3)
        assert a.degraded.dtype == np.float32 and 0 <= a.clean.min() and a.clean.max() <= 1
        assert np.array_equal(a.degraded, b.degraded) and np.array_equal(a.clean, b.clean)
        assert a.label.to_dict() == b.label.to_dict()
    assert not np.array_equal(s1[1].clean, s1[2].clean)
    other = PairStream(image_paths(folder), size=64, seed=4)
    assert not np.array_equal(other[0].clean, s1[0].clean)
    kinds = {len(s1[i].label.steps) for i in range(40)}
    assert 0 in kinds and max(kinds) >= 2  # clean pairs and composites both occur


def test_label_maps_match_the_pair(folder):
    s = PairStream(image_paths(folder), size=48, seed=0)
    for i in range(20):
        p = s[i]
        assert set(p.label.maps) == {st.op for st in p.label.steps}
        for m in p.label.maps.values():
            assert m.shape == (48, 48)
        if not p.label.steps:
            assert np.array_equal(p.degraded, p.clean)


def test_random_crop_is_seeded_and_pads_small_images():
    img = np.random.default_rng(0).random((50, 70, 3), dtype=np.float32)
    a = random_crop(img, 32, np.random.default_rng(1))
    b = random_crop(img, 32, np.random.default_rng(1))
    assert np.array_equal(a, b) and a.shape == (32, 32, 3)
    assert random_crop(img, 64, np.random.default_rng(1)).shape == (64, 64, 3)


def test_folder_errors(tmp_path):
    with pytest.raises(RestoraError, match="not found"):
        image_paths(tmp_path / "missing")
    with pytest.raises(RestoraError, match="no images"):
        image_paths(tmp_path)
    with pytest.raises(RestoraError, match="no clean images"):
        PairStream([])


def test_builtin_test_set_and_wallpapers():
    photos = skimage_photos(max_side=128)
    assert len(photos) == 12 and all(max(p.shape[:2]) <= 128 for _, p in photos)
    for p in wallpaper_paths():  # may be empty on a machine without the packages
        assert p.stem != "screenshot"
