"""Lift + PhysNet throughput (16-frame clips/s) of two model folders on one device:
    python benchmarks/skeletons/throughput.py LIFTER PHYSNET cuda|cpu [flip]
("flip": the lifter with the test-time flip average, `lift --flip-average`)"""

import json
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from train_pose_models import throughput

if __name__ == "__main__":
    import torch

    lifter, physnet, device = sys.argv[1:4]
    flip = sys.argv[4:5] == ["flip"]
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else \
        f"{platform.machine()} CPU, {torch.get_num_threads()} threads"
    print(json.dumps({"device": name, "clips_per_s": throughput(lifter, physnet, device,
                                                                   flip_average=flip),
                      "flip_average": flip,
                      "torch": torch.__version__}, indent=1))
