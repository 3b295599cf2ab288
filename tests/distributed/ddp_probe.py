"""Run one finephys training stage under torchrun and record, per rank and per checkpoint,
a hash of every parameter of the prepared models (to show the ranks stay identical)."""

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from finephys_cli.stages import training


def _digest(acc) -> str:
    h = hashlib.sha256()
    for model in acc._models:
        for name, p in sorted(acc.unwrap_model(model).state_dict().items()):
            h.update(name.encode())
            h.update(p.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    out = Path(sys.argv[2])
    rank = int(os.environ.get("RANK", "0"))
    original = training.RunDir.end_step

    def end_step(self, accelerator, state, row, *args, **kwargs):
        with open(out / f"rank{rank}.jsonl", "a") as fh:
            fh.write(json.dumps({"step": state.step, "digest": _digest(accelerator),
                                 "world": accelerator.num_processes}) + "\n")
        return original(self, accelerator, state, row, *args, **kwargs)

    training.RunDir.end_step = end_step
    torch.set_num_threads(1)
    from finephys_cli.app import app

    sys.argv = ["finephys"] + json.loads(sys.argv[1])
    app(standalone_mode=False)


if __name__ == "__main__":
    main()
