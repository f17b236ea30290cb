#!/usr/bin/env python3
"""How often a near-twin leaves its DAWN perceptual bucket (docs/results.md).

A model of `--keying perceptual` (src/serve/dawn_chooser.cpp) in floating point: each
image averaged over a grid x grid cells per channel, its mean subtracted, projected on
`bits` Gaussian directions (one random key), the signs the bucket. Prints, for the test
split of MNIST and CIFAR-10 under ../shared/data, the buckets seen, the largest bucket's
share, the spread of the changed share over 200 keys at rate 0.02, and how often a twin
lands in another bucket: one pixel moved by one level, Gaussian noise (0.05, 0.1, 0.2 of
the pixel range), a one-pixel shift.

With `--model mnist=M.sd --model cifar10=C.sd` (state dicts from `wmark export --format
state-dict` of an mnist_cnn and a cifar_cnn) it also measures a keying wmark does not
offer: sign bits of the model's own penultimate features (fc1) or logits, centred on
their mean over the first half of the test split and measured on the second half, and
how often the twins keep the model's answer (needs torch; tests/python/architectures.py).

    python3 bench/dawn_buckets.py [--grid 8] [--bits 16] [--data ../shared/data] [--model ...]
"""
import argparse
import collections
import gzip
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


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


def near_twins(images, rng):
    """The voting thief's twins of every image: nudged, noisy, shifted by one pixel."""
    n = images.shape[0]
    twins = {}
    nudged = images.astype(np.int16).reshape(n, -1).copy()
    where = rng.integers(0, nudged.shape[1], n)
    nudged[np.arange(n), where] = np.where(nudged[np.arange(n), where] == 255, 254, nudged[np.arange(n), where] + 1)
    twins['nudge'] = nudged.reshape(images.shape).astype(np.uint8)
    for sigma in (0.05, 0.1, 0.2):
        noisy = images + rng.standard_normal(images.shape) * sigma * 255
        twins['noise %.2f' % sigma] = np.clip(noisy, 0, 255).round().astype(np.uint8)
    twins['shift'] = np.concatenate([images[..., :1], images[..., :-1]], axis=3)
    return twins


def bucket_stats(base, twin_bits, rng):
    """Buckets seen, the largest one's share, the changed share at rate 0.02, twins leaving."""
    counts = collections.Counter(bytes(np.packbits(row)) for row in base)
    mass = np.array(list(counts.values())) / base.shape[0]
    shares = [mass[rng.random(len(mass)) < 0.02].sum() for _ in range(200)]
    left = ', '.join('%s %.1f%%' % (k, 100 * (v != base).any(1).mean()) for k, v in twin_bits.items())
    return '%d buckets, largest %.1f%%, changed share at rate 0.02: %.2f%% +- %.2f%%; twins leaving: %s' % (
        len(counts), 100 * mass.max(), 100 * np.mean(shares), 100 * np.std(shares), left)


def model_keying(name, images, state_dict, bits, rng):
    """Sign bits of the model's fc1 features and of its logits, and the twins' answers."""
    import torch
    sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'python'))
    import architectures
    model = architectures.MnistCnn() if name == 'mnist' else architectures.CifarCnn()
    model.load_state_dict(torch.load(state_dict))
    model.eval()
    norm = {'mnist': ([0.1307], [0.3081]), 'cifar10': ([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])}[name]
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in norm)
    captured = {}
    model.fc1.register_forward_hook(lambda m, i, o: captured.__setitem__('fc1', torch.relu(o)))

    def run(x):
        fc1, logits = [], []
        with torch.no_grad():
            for b in range(0, len(x), 500):
                logits.append(model((torch.from_numpy(x[b:b + 500].copy()).float() / 255 - mean) / std))
                fc1.append(captured['fc1'])
        return {'fc1': torch.cat(fc1).double().numpy(), 'logits': torch.cat(logits).double().numpy()}

    half = images.shape[0] // 2
    reference, test = run(images[:half]), run(images[half:])
    twins = {k: run(v) for k, v in near_twins(images[half:], rng).items()}
    answer = test['logits'].argmax(1)
    print('%s model: twins keeping its answer: %s' % (name, ', '.join(
        '%s %.1f%%' % (k, 100 * (v['logits'].argmax(1) == answer).mean()) for k, v in twins.items())))
    for rep in ('fc1', 'logits'):
        centre = reference[rep].mean(0)
        directions = rng.standard_normal((bits, centre.shape[0]))
        signs = lambda f: (f - centre) @ directions.T > 0
        stats = bucket_stats(signs(test[rep]), {k: signs(v[rep]) for k, v in twins.items()}, rng)
        print('%s model %s bits %d: %s' % (name, rep, bits, stats))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--grid', type=int, default=8)
    parser.add_argument('--bits', type=int, default=16)
    parser.add_argument('--data', default=os.path.join(HERE, '..', '..', 'shared', 'data'))
    parser.add_argument('--model', action='append', default=[], help='DATASET=STATE_DICT')
    args = parser.parse_args()
    models = dict(m.split('=', 1) for m in args.model)
    rng = np.random.default_rng(0)
    for name, images in [('mnist', mnist(args.data)), ('cifar10', cifar(args.data))]:
        directions = rng.standard_normal((args.bits, images.shape[1] * args.grid ** 2))
        bits = lambda x: centred_cells(x, args.grid) @ directions.T > 0
        twin_bits = {k: bits(v) for k, v in near_twins(images, rng).items()}
        print('%s grid %d bits %d: %s' % (name, args.grid, args.bits, bucket_stats(bits(images), twin_bits, rng)))
        if name in models:
            model_keying(name, images, models[name], args.bits, rng)


if __name__ == '__main__':
    main()
