"""Python twins of wmark's built-in architectures (same module names and layouts), so
that state dicts move between wmark (C++) and PyTorch (Python) unchanged."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MnistCnn(nn.Module):
    """wmark's mnist_cnn: include/wmark/models/architectures.h."""

    def __init__(self, channels=1, height=28, width=28, classes=10, hidden=256):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, 32, 5)
        self.conv2 = nn.Conv2d(32, 64, 5)
        h = ((height - 4) // 2 - 4) // 2
        w = ((width - 4) // 2 - 4) // 2
        self.fc1 = nn.Linear(64 * h * w, hidden)
        self.fc2 = nn.Linear(hidden, classes)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return self.fc2(x)


def probe(n=4):
    """The fixed input both languages feed the model: [n, 1, 28, 28] in [-1, 1]."""
    return torch.linspace(-1.0, 1.0, n * 784).reshape(n, 1, 28, 28)


def _conv_bn_relu(seq, cin, cout):
    seq.append(nn.Conv2d(cin, cout, 3, padding=1, bias=False))
    seq.append(nn.BatchNorm2d(cout))
    seq.append(nn.ReLU(inplace=True))


class CifarCnn(nn.Module):
    """wmark's cifar_cnn: three blocks of two 3x3 conv-BN-ReLU and a max-pool, then
    fc1 (256, ReLU, dropout 0.3) and fc2."""

    def __init__(self, channels=3, height=32, width=32, classes=10, width_mult=32):
        super().__init__()
        layers, cin = [], channels
        for cout in (width_mult, 2 * width_mult, 4 * width_mult):
            _conv_bn_relu(layers, cin, cout)
            _conv_bn_relu(layers, cout, cout)
            layers.append(nn.MaxPool2d(2))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc1 = nn.Linear(cin * (height // 8) * (width // 8), 256)
        self.fc2 = nn.Linear(256, classes)

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        x = F.dropout(F.relu(self.fc1(x)), 0.3, self.training)
        return self.fc2(x)


class BasicBlock(nn.Module):
    """wmark's residual block: conv1-bn1-ReLU, conv2-bn2, plus the shortcut, ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)), inplace=True)
        y = self.bn2(self.conv2(y))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x), inplace=True)


class ResNet18(nn.Module):
    """wmark's resnet18 (CIFAR form: a 3x3 stem, no initial pooling)."""

    def __init__(self, channels=3, height=32, width=32, classes=10):
        super().__init__()
        stem = []
        _conv_bn_relu(stem, channels, 64)
        self.stem = nn.Sequential(*stem)
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))
