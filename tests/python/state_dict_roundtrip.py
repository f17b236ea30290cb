"""State dicts between wmark and PyTorch, driven by tests/models/test_state_dict.cpp.

  load STATE_DICT LOGITS_OUT   load a state dict wmark wrote into the Python MnistCnn,
                               save its logits for the probe input
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from architectures import MnistCnn, probe  # noqa: E402


def main():
    mode, state_path, logits_path = sys.argv[1:4]
    torch.manual_seed(7)
    model = MnistCnn()
    if mode == "load":
        model.load_state_dict(torch.load(state_path))  # strict: every name and shape must match
    else:
        sys.exit("unknown mode " + mode)
    model.eval()
    with torch.no_grad():
        torch.save(model(probe()), logits_path)


if __name__ == "__main__":
    main()
