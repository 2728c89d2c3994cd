"""Shapes of every network at tiny width, the paper configuration's size, MURF, the factories."""
import numpy as np
import pytest
import torch

from app.inference.caru2net import CARU2Net
from app.inference.registry import UnknownArchitecture, count_parameters, make_generator, make_segmenter

TINY = {
    "mseg": dict(widths=(4, 8, 8, 16, 16)),
    "ganmasker": dict(widths=(4, 8, 8, 16, 16)),
    "caru2net": dict(level1=(8, 4), level2=(8, 4), bottleneck=(16, 8)),
}


@pytest.mark.parametrize("size", [128, 256, 512])
def test_segmenter_shapes(size):
    net = make_segmenter("mseg", **TINY["mseg"]).eval()
    with torch.no_grad():
        y = net(torch.randn(2, 3, size, size))  # logits: the loss and the engine's sigmoid take them
    assert y.shape == (2, 1, size, size) and torch.isfinite(y).all()
    assert float(y.min()) < 0.0 or float(y.max()) > 1.0  # not squashed into [0, 1] by the network
    from app.inference.engine import Unmasker

    engine = Unmasker(net, make_generator("caru2net", **TINY["caru2net"]), size)
    prob = engine.segment(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8))
    assert prob.shape == (size, size) and prob.min() >= 0.0 and prob.max() <= 1.0


@pytest.mark.parametrize("kind", ["ganmasker", "caru2net"])
@pytest.mark.parametrize("size", [128, 256, 512])
def test_generator_shapes_and_murf(kind, size):
    torch.manual_seed(0)
    net = make_generator(kind, **TINY[kind]).eval()
    x = torch.rand(2, 3, size, size) * 2 - 1
    m = torch.zeros(2, 1, size, size)
    m[..., size // 2:, size // 4: 3 * size // 4] = 1.0
    with torch.no_grad():
        y = net(x, m)
        raw = net.generate(x, m)
    assert y.shape == (2, 3, size, size)
    assert float(raw.abs().max()) <= 1.0  # tanh
    outside = m.expand_as(x) == 0
    assert torch.equal(y[outside], x[outside])  # MURF: unmasked pixels never change
    assert not torch.equal(y[~outside], x[~outside])


def test_paper_configuration_size():
    net = CARU2Net()
    n = count_parameters(net)
    print(f"CARU2-Net paper configuration: {n / 1e6:.3f} M parameters (paper: 3.17 M)")
    assert abs(n - 3.17e6) / 3.17e6 < 0.05
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net.eval()(torch.zeros(1, 3, 256, 256), torch.zeros(1, 1, 256, 256))
    gmacs = counter.get_total_flops() / 2e9
    print(f"CARU2-Net at 256x256: {gmacs:.2f} GMACs (paper: 42.53 G)")
    assert 30 < gmacs < 50


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(UnknownArchitecture, match="known: caru2net, ganmasker"):
        make_generator("pix2pix")
    with pytest.raises(UnknownArchitecture, match="unknown config keys"):
        make_segmenter("mseg", depth=3)


def test_a_blanked_hole_makes_the_fill_independent_of_the_mask():
    """With blank_hole (LaMa's way) the same face under two different masks over the same region
    gets the same fill: nothing of the mask's pixels reaches the generator."""
    from app.inference.registry import make_generator

    torch.manual_seed(0)
    gen = make_generator("ganmasker", widths=(8, 8, 16, 16, 16), blank_hole=True).eval()
    face = torch.rand(1, 3, 64, 64) * 2 - 1
    hole = torch.zeros(1, 1, 64, 64)
    hole[..., 30:56, 14:50] = 1
    pleated = face.clone()
    pleated[:, :, 30:56, 14:50] = torch.linspace(-1, 1, 26)[:, None].expand(26, 36)  # bands
    white = face.clone()
    white[:, :, 30:56, 14:50] = 0.95
    with torch.no_grad():
        a, b = gen(pleated, hole), gen(white, hole)
    assert torch.equal(a, b)
    seeing = make_generator("ganmasker", widths=(8, 8, 16, 16, 16), blank_hole=False).eval()
    seeing.load_state_dict(gen.state_dict())
    with torch.no_grad():
        assert not torch.equal(seeing(pleated, hole), seeing(white, hole))  # the old way reads the mask
