#!/usr/bin/env python3
"""How often a near-twin leaves its DAWN perceptual bucket (docs/results.md).

A model of `--keying perceptual` (src/serve/dawn_chooser.cpp) in floating point: each
image averaged over a grid x grid cells per channel, its mean subtracted, projected on
`bits` Gaussian directions (one random key), the signs the bucket. Prints, for the test
split of MNIST and CIFAR-10 under ../shared/data, the buckets seen, the largest bucket's
share, the spread of the changed share over 200 keys at rate 0.02, and how often a twin
lands in another bucket: one pixel moved by one level, Gaussian noise (0.05, 0.1, 0.2 of
the pixel range), a one-pixel shift.

    python3 bench/dawn_buckets.py [--grid 8] [--bits 16] [--data ../shared/data]
"""
import argparse
import collections
import gzip
import os

import numpy as np


def mnist(data):
    with gzip.open(os.path.join(data, 'mnist', 't10k-images-idx3-ubyte.gz')) as f:
        return np.frombuffer(f.read()[16:], np.uint8).reshape(-1, 1, 28, 28)


def cifar(data):
    with gzip.open(os.path.join(data, 'cifar-10-batches-bin', 'test_batch.bin.gz')) as f:
        return np.frombuffer(f.read(), np.uint8).reshape(-1, 3073)[:, 1:].reshape(-1, 3, 32, 32)


def centred_cells(x, g):
    n, c, h, w = x.shape
    out = np.zeros((n, c, g, g))
    for i in range(g):
        r0, r1 = (i * h) // g, -(-((i + 1) * h) // g)
        for j in range(g):
            c0, c1 = (j * w) // g, -(-((j + 1) * w) // g)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].astype(np.float64).mean(axis=(2, 3))
    z = out.reshape(n, -1)
    return z - z.mean(1, keepdims=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--grid', type=int, default=8)
    parser.add_argument('--bits', type=int, default=16)
    parser.add_argument('--data', default=os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data'))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for name, images in [('mnist', mnist(args.data)), ('cifar10', cifar(args.data))]:
        n = images.shape[0]
        directions = rng.standard_normal((args.bits, images.shape[1] * args.grid ** 2))
        bits = lambda x: centred_cells(x, args.grid) @ directions.T > 0
        base = bits(images)
        counts = collections.Counter(bytes(np.packbits(row)) for row in base)
        mass = np.array(list(counts.values())) / n
        shares = [mass[rng.random(len(mass)) < 0.02].sum() for _ in range(200)]
        twins = {}
        nudged = images.astype(np.int16).reshape(n, -1).copy()
        where = rng.integers(0, nudged.shape[1], n)
        nudged[np.arange(n), where] = np.where(nudged[np.arange(n), where] == 255, 254, nudged[np.arange(n), where] + 1)
        twins['nudge'] = nudged.reshape(images.shape).astype(np.uint8)
        for sigma in (0.05, 0.1, 0.2):
            noisy = images + rng.standard_normal(images.shape) * sigma * 255
            twins['noise %.2f' % sigma] = np.clip(noisy, 0, 255).round().astype(np.uint8)
        twins['shift'] = np.concatenate([images[..., :1], images[..., :-1]], axis=3)
        left = ', '.join('%s %.1f%%' % (k, 100 * (bits(v) != base).any(1).mean()) for k, v in twins.items())
        print('%s grid %d bits %d: %d buckets, largest %.1f%%, changed share at rate 0.02: %.2f%% +- %.2f%%; '
              'twins leaving: %s' % (name, args.grid, args.bits, len(counts), 100 * mass.max(), 100 * np.mean(shares),
                                     100 * np.std(shares), left))


if __name__ == '__main__':
    main()
