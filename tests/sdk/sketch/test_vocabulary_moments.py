"""Vocabulary moments in profiles: packed exactly (upper triangle, sparse when mostly zero), old files still load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from otel_mlmon import Profile
from otel_mlmon.profile import FORMAT_VERSION
from otel_mlmon.sketch.vocabulary import VocabularySketch, pack_products, unpack_products

WORDS = np.array([f"word{i}" for i in range(20_000)])


def _sketch(n: int, vocabulary: int, seed: int = 0) -> VocabularySketch:
    """``n`` texts of 5-40 words drawn from the first ``vocabulary`` words (Zipf-like)."""
    rng = np.random.default_rng(seed)
    p = 1 / np.arange(1, vocabulary + 1)
    p /= p.sum()
    texts = np.array(
        [" ".join(rng.choice(WORDS[:vocabulary], rng.integers(5, 40), p=p)) for _ in range(n)], dtype=object
    )
    sketch = VocabularySketch()
    sketch.update(texts)
    return sketch


def _dense_v1(data: dict) -> dict:
    """A sketch dict as format_version 1 wrote it: the full ``products`` list, no ``moments``."""
    sketch = VocabularySketch.from_dict(data)
    old = {k: v for k, v in data.items() if k != "moments"}
    old["products"] = sketch.products.ravel().tolist()
    old["cross"] = sketch.cross.tolist()
    return old


@pytest.mark.parametrize(("vocabulary", "layout"), [(60, "sparse-upper"), (20_000, "upper")])
def test_moments_round_trip_exactly_in_the_smaller_layout(vocabulary, layout):
    """A topical vocabulary (few words: most bucket pairs never share a text) is stored sparse, a broad one as
    the upper triangle; both give back the same matrix, bit for bit, through JSON."""
    sketch = _sketch(300, vocabulary)
    data = json.loads(json.dumps(sketch.to_dict()))
    assert data["moments"]["layout"] == layout and "products" not in data
    again = VocabularySketch.from_dict(data)
    np.testing.assert_array_equal(again.products, sketch.products)
    np.testing.assert_array_equal(again.cross, sketch.cross)
    np.testing.assert_array_equal(again.share_covariance(), sketch.share_covariance())


def test_non_integral_moments_stay_exact():
    """Moments are sums of integer products; should one not be (a merge of foreign data), floats are kept."""
    m = np.array([[0.5, 0.0], [0.0, 2.0]])
    packed = json.loads(json.dumps(pack_products(m)))
    np.testing.assert_array_equal(unpack_products(packed, 2), m)


def test_a_format_version_1_profile_still_loads_with_the_same_moments(tmp_path):
    """Profiles written before the packing (dense ``products``, format_version 1) load to the same sketch."""
    texts = [" ".join(f"w{(i * 7 + j) % 90}" for j in range(12)) for i in range(400)]
    profile = Profile.from_data(texts, model="m", feature_names=["q"], text=["q"])
    new = profile.to_dict()
    assert new["format_version"] == FORMAT_VERSION == 2
    old = json.loads(json.dumps(new))
    old["format_version"] = 1
    old["summary"]["vocabularies"]["q"] = _dense_v1(old["summary"]["vocabularies"]["q"])
    (tmp_path / "old.json").write_text(json.dumps(old))
    loaded = Profile.load(tmp_path / "old.json").summary.vocabularies["q"]
    expected = profile.summary.vocabularies["q"]
    np.testing.assert_array_equal(loaded.products, expected.products)
    assert loaded.to_dict() == json.loads(json.dumps(expected.to_dict()))


def test_a_profile_is_an_order_of_magnitude_smaller():
    """The example's kind of corpus (3 000 questions, a few hundred words): under 40 KB of JSON for the text
    column's profile, where the dense moments alone took ~330 KB."""
    texts = [" ".join(f"w{(i * 7 + j * 13) % 300}" for j in range(15)) for i in range(3000)]
    profile = Profile.from_data(texts, model="m", feature_names=["q"], text=["q"])
    size = len(json.dumps(profile.to_dict()))
    dense = len(json.dumps(_dense_v1(profile.summary.vocabularies["q"].to_dict())))
    assert size < 40_000 < dense


@pytest.mark.parametrize(
    "moments",
    [
        {"layout": "diagonal", "values": [1]},
        {"layout": "upper", "values": [1, 2, 3]},
        {"layout": "sparse-upper", "index": [0, 0], "values": [1, 2]},
        {"layout": "sparse-upper", "index": [10**9], "values": [1]},
        {"layout": "sparse-upper", "index": [0], "values": [1, 2]},
        {"layout": "sparse-upper", "values": [1]},
    ],
)
def test_malformed_moments_are_refused(moments):
    data = {**_sketch(20, 60).to_dict(), "moments": moments}
    with pytest.raises(ValueError):
        VocabularySketch.from_dict(data)
