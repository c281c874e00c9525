"""Write the layer tables of real networks (``data/layers/<name>.csv``).

Each row is one layer with weights (conv, fc, bn). Shapes follow the reference
implementations cited in ``data/README.md`` (torchvision for AlexNet, VGG-16, ResNet-18/50
and SqueezeNet 1.0; Howard et al. 2017, Table 1, for MobileNet-v1), batch 1 at 224x224.
Pooling layers carry no weights and are not rows: the next row's input size records them.
Run ``python data/make_layer_tables.py`` to regenerate; then ``python data/make_mnist.py``
to refresh the checksums.
"""
from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["name", "type", "in_c", "in_h", "in_w", "out_c", "k_h", "k_w", "stride", "pad", "groups", "bias"]


class Builder:
    def __init__(self, c: int, h: int, w: int | None = None):
        self.c, self.h, self.w = c, h, w if w is not None else h
        self.rows: list[dict] = []

    def conv(self, name, out_c, k, stride=1, pad=0, groups=1, bias=True, bn=False):
        self.rows.append(dict(name=name, type="conv", in_c=self.c, in_h=self.h, in_w=self.w, out_c=out_c,
                              k_h=k, k_w=k, stride=stride, pad=pad, groups=groups, bias=int(bias)))
        self.h = (self.h + 2 * pad - k) // stride + 1
        self.w = (self.w + 2 * pad - k) // stride + 1
        self.c = out_c
        if bn:
            self.bn(name + ".bn")
        return self

    def bn(self, name):
        self.rows.append(dict(name=name, type="bn", in_c=self.c, in_h=self.h, in_w=self.w, out_c=self.c,
                              k_h=1, k_w=1, stride=1, pad=0, groups=self.c, bias=1))

    def pool(self, k, stride, pad=0, ceil=False):
        def out(n):
            num = n + 2 * pad - k
            return -(-num // stride) + 1 if ceil else num // stride + 1
        self.h, self.w = out(self.h), out(self.w)
        return self

    def set_hw(self, h, w=None):
        self.h, self.w = h, w if w is not None else h
        return self

    def fc(self, name, out_f, bias=True):
        in_f = self.c * self.h * self.w
        self.rows.append(dict(name=name, type="fc", in_c=in_f, in_h=1, in_w=1, out_c=out_f,
                              k_h=1, k_w=1, stride=1, pad=0, groups=1, bias=int(bias)))
        self.c, self.h, self.w = out_f, 1, 1
        return self


def alexnet():  # torchvision variant (Krizhevsky 2014, "one weird trick"): 61,100,840 params
    b = Builder(3, 224)
    b.conv("conv1", 64, 11, 4, 2).pool(3, 2).conv("conv2", 192, 5, 1, 2).pool(3, 2)
    b.conv("conv3", 384, 3, 1, 1).conv("conv4", 256, 3, 1, 1).conv("conv5", 256, 3, 1, 1).pool(3, 2)
    b.fc("fc6", 4096).fc("fc7", 4096).fc("fc8", 1000)
    return b.rows


def vgg16():  # Simonyan & Zisserman 2015, configuration D: 138,357,544 params
    b = Builder(3, 224)
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    i, block, j = 0, 1, 1
    for v in cfg:
        if v == "M":
            b.pool(2, 2)
            block, j = block + 1, 1
        else:
            b.conv(f"conv{block}_{j}", v, 3, 1, 1)
            j += 1
    b.fc("fc6", 4096).fc("fc7", 4096).fc("fc8", 1000)
    return b.rows


def _resnet(blocks, bottleneck):
    b = Builder(3, 224)
    b.conv("conv1", 64, 7, 2, 3, bias=False, bn=True).pool(3, 2, 1)
    widths = [64, 128, 256, 512]
    expansion = 4 if bottleneck else 1
    for stage, (n, width) in enumerate(zip(blocks, widths), start=1):
        for k in range(n):
            stride = 2 if (k == 0 and stage > 1) else 1
            c_in, h_in, w_in = b.c, b.h, b.w
            p = f"layer{stage}.{k}"
            if bottleneck:  # torchvision v1.5: stride on the 3x3
                b.conv(p + ".conv1", width, 1, 1, 0, bias=False, bn=True)
                b.conv(p + ".conv2", width, 3, stride, 1, bias=False, bn=True)
                b.conv(p + ".conv3", width * expansion, 1, 1, 0, bias=False, bn=True)
            else:
                b.conv(p + ".conv1", width, 3, stride, 1, bias=False, bn=True)
                b.conv(p + ".conv2", width, 3, 1, 1, bias=False, bn=True)
            if stride != 1 or c_in != width * expansion:
                c_out, h_out, w_out = b.c, b.h, b.w
                b.c, b.h, b.w = c_in, h_in, w_in
                b.conv(p + ".downsample", width * expansion, 1, stride, 0, bias=False, bn=True)
                assert (b.c, b.h, b.w) == (c_out, h_out, w_out)
    b.set_hw(1).fc("fc", 1000)
    return b.rows


def resnet18():  # He et al. 2016: 11,689,512 params (BN affine parameters included)
    return _resnet([2, 2, 2, 2], bottleneck=False)


def resnet50():  # He et al. 2016: 25,557,032 params (BN affine parameters included)
    return _resnet([3, 4, 6, 3], bottleneck=True)


def mobilenet_v1():  # Howard et al. 2017, Table 1 (width 1.0, 224x224); BN not counted, as in the paper
    b = Builder(3, 224)
    b.conv("conv1", 32, 3, 2, 1, bias=False)
    plan = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    for i, (out_c, s) in enumerate(plan, start=2):
        b.conv(f"conv{i}.dw", b.c, 3, s, 1, groups=b.c, bias=False)
        b.conv(f"conv{i}.pw", out_c, 1, 1, 0, bias=False)
    b.set_hw(1).fc("fc", 1000)
    return b.rows


def squeezenet1_0():  # Iandola et al. 2016, torchvision: 1,248,424 params
    b = Builder(3, 224)
    b.conv("conv1", 96, 7, 2, 0).pool(3, 2, ceil=True)

    def fire(name, s, e):
        b.conv(name + ".squeeze", s, 1)
        c, h, w = b.c, b.h, b.w
        b.conv(name + ".expand1x1", e, 1)
        b.c = c
        b.conv(name + ".expand3x3", e, 3, 1, 1)
        b.c = 2 * e

    fire("fire2", 16, 64); fire("fire3", 16, 64); fire("fire4", 32, 128)
    b.pool(3, 2, ceil=True)
    fire("fire5", 32, 128); fire("fire6", 48, 192); fire("fire7", 48, 192); fire("fire8", 64, 256)
    b.pool(3, 2, ceil=True)
    fire("fire9", 64, 256)
    b.conv("conv10", 1000, 1)
    return b.rows


NETWORKS = {f.__name__: f for f in (alexnet, vgg16, resnet18, resnet50, mobilenet_v1, squeezenet1_0)}

if __name__ == "__main__":
    (HERE / "layers").mkdir(exist_ok=True)
    for name, fn in NETWORKS.items():
        with open(HERE / "layers" / f"{name}.csv", "w", newline="") as f:
            w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
            w.writeheader()
            w.writerows(fn())
        print("wrote", name)
