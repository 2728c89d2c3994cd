"""Weights round-trip through safetensors + card; damage and mismatch are reported in words."""
import json

import numpy as np
import pytest
import torch

from app.errors import ModelError, ModelNotInstalled
from app.inference.engine import Unmasker
from app.inference.registry import make_generator, make_segmenter
from app.inference.weights import card_path, load_model, save_model


def _gen():
    torch.manual_seed(3)
    return make_generator("ganmasker", widths=(4, 8, 8, 16, 16)).eval()


def test_round_trip(tmp_path):
    net = _gen()
    card = save_model(net, tmp_path / "g.safetensors", input_size=128, trained=False, steps=0)
    loaded, card2 = load_model(tmp_path / "g.safetensors", role="generator")
    assert card2 == card and card["architecture"] == "ganmasker" and card["config"]["widths"] == [4, 8, 8, 16, 16]
    x, m = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 1, 64, 64).round()
    with torch.no_grad():
        assert torch.equal(net(x, m), loaded(x, m))
    assert b"pickle" not in (tmp_path / "g.safetensors").read_bytes()[:200]


def test_tampered_file_is_refused(tmp_path):
    path = tmp_path / "g.safetensors"
    save_model(_gen(), path, input_size=128)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="damaged or was changed"):
        load_model(path)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "g.safetensors"
    save_model(_gen(), path, input_size=128)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="damaged"):
        load_model(path)


def test_architecture_mismatch_is_refused(tmp_path):
    path = tmp_path / "g.safetensors"
    save_model(_gen(), path, input_size=128)
    card = json.loads(card_path(path).read_text())
    card["config"]["widths"] = [8, 8, 8, 16, 16]
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="does not match the ganmasker architecture"):
        load_model(path)


def test_wrong_role_and_missing_files(tmp_path):
    path = tmp_path / "g.safetensors"
    save_model(_gen(), path, input_size=128)
    with pytest.raises(ModelError, match="holds a generator, not a segmenter"):
        load_model(path, role="segmenter")
    card_path(path).unlink()
    with pytest.raises(ModelError, match="model card .* is missing"):
        load_model(path)
    with pytest.raises(ModelNotInstalled):
        load_model(tmp_path / "none.safetensors")


def test_engine_refuses_untrained_models(tiny_models):
    with pytest.raises(ModelNotInstalled, match="no trained model is installed"):
        Unmasker.from_installed("cpu", directory=tiny_models)


def test_engine_batches_and_keeps_unmasked_pixels(tiny_models, rng):
    engine = Unmasker.from_installed("cpu", directory=tiny_models, allow_untrained=True)
    faces = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    maps = engine.segment(faces)
    assert maps.shape == (3, 64, 64) and maps.dtype == np.float32
    assert np.allclose(engine.segment(faces[1]), maps[1], atol=1e-5)  # batch == one by one
    box = np.zeros((3, 64, 64), np.float32)
    box[:, 30:60, 10:54] = 1
    out = engine.inpaint(faces, box)
    assert out.shape == faces.shape and out.dtype == np.uint8
    assert np.array_equal(out[box == 0], faces[box == 0])
    assert not np.array_equal(out[box == 1], faces[box == 1])


def test_segmenter_round_trip(tmp_path):
    net = make_segmenter("mseg", widths=(4, 8, 8, 8, 8)).eval()
    save_model(net, tmp_path / "s.safetensors", input_size=64)
    loaded, _ = load_model(tmp_path / "s.safetensors", role="segmenter")
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(net(x), loaded(x))
