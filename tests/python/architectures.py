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
