"""Models between wmark and PyTorch, driven by tests/models/test_state_dict.cpp,
tests/models/test_torchscript.cpp and the e2e tests.

  load STATE_DICT LOGITS_OUT   load a state dict wmark wrote into the Python MnistCnn,
                               save its logits for the probe input
  save STATE_DICT_OUT LOGITS_OUT  save a fresh Python MnistCnn's state dict and logits
  script TORCHSCRIPT LOGITS_OUT    torch.jit.load a model wmark exported, save its logits
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from architectures import MnistCnn, probe  # noqa: E402


def main():
    mode, state_path, logits_path = sys.argv[1:4]
    if mode == "script":
        model = torch.jit.load(state_path)
        with torch.no_grad():
            torch.save(model(probe()), logits_path)
        return
    torch.manual_seed(7)
    model = MnistCnn()
    if mode == "load":
        model.load_state_dict(torch.load(state_path))  # strict: every name and shape must match
    elif mode == "save":
        torch.save(model.state_dict(), state_path)  # an OrderedDict, as users save it
    else:
        sys.exit("unknown mode " + mode)
    model.eval()
    with torch.no_grad():
        torch.save(model(probe()), logits_path)


if __name__ == "__main__":
    main()
