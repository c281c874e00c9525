import pytest
import torch

from companion import metrics, models

# Published parameter counts (torchvision's reference implementations; MobileNet-v1: Howard et
# al. 2017 report 4.2 M and 569 M mult-adds without BatchNorm).
PUBLISHED_PARAMS = {
    "alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512, "resnet50": 25_557_032,
    "squeezenet1_0": 1_248_424,
}


@pytest.mark.parametrize("name,params", PUBLISHED_PARAMS.items())
def test_layer_table_params_match_published(name, params):
    assert models.layer_table(name).params == params


def test_mobilenet_matches_paper():
    t = models.layer_table("mobilenet_v1")
    assert round(t.params / 1e6, 1) == 4.2
    assert abs(t.macs / 1e6 - 569) / 569 < 0.005


@pytest.mark.parametrize("name,gmacs", [("alexnet", 0.714), ("vgg16", 15.47), ("resnet18", 1.814),
                                         ("resnet50", 4.089), ("squeezenet1_0", 0.819)])
def test_layer_table_macs_match_known(name, gmacs):
    assert abs(models.layer_table(name).macs / 1e9 - gmacs) / gmacs < 0.005


def test_layer_table_api():
    t = models.layer_table("vgg16")
    assert t["fc6"].params == 25088 * 4096 + 4096
    assert len(t) == 16 and len(t.to_frame()) == 16
    assert t[0].out_h == 224
    with pytest.raises(KeyError):
        t["nope"]


def test_layer_table_bad_input():
    with pytest.raises(ValueError, match="allowed"):
        models.layer_table("vgg19")
    with pytest.raises(TypeError):
        models.layer_table(16)


def test_layerspec_validation():
    with pytest.raises(ValueError, match="positive"):
        models.LayerSpec("x", "conv", 0, 8, 8, 4)
    with pytest.raises(ValueError, match="groups"):
        models.LayerSpec("x", "conv", 6, 8, 8, 4, groups=4)
    with pytest.raises(ValueError, match="type"):
        models.LayerSpec("x", "pool", 3, 8, 8, 3)


@pytest.mark.parametrize("name,params", [("lenet300", 266_610), ("lenet5", 431_080), ("cnn", 218_490)])
def test_mnist_models(name, params):
    m = models.build(name)
    assert metrics.count_params(m) == params
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = models.build("lenet5", seed=1)
    after = torch.rand(1)
    b = models.build("lenet5", seed=1)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_build_bad_input():
    with pytest.raises(ValueError, match="allowed"):
        models.build("resnet")
    with pytest.raises(TypeError):
        models.build(None)
    with pytest.raises(ValueError):
        models.build("lenet5", seed=-1)


def test_traced_table_matches_hooks():
    m = models.build("cnn")
    t = metrics.module_layer_table(m)
    assert t.params == metrics.count_params(m)
    assert t.macs == metrics.measure_macs(m)
