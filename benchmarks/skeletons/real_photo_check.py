"""How a fine-tuned YOLO-pose does on the only real photographs available offline (Ultralytics'
bus.jpg and zidane.jpg, matplotlib's grace_hopper.jpg): the people the stock yolo11n-pose finds,
and for each the best box IoU and median keypoint difference of the other model.
    python benchmarks/skeletons/real_photo_check.py MODEL.pt"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def iou(a, b) -> float:
    x1, y1 = np.maximum(a[:2], b[:2])
    x2, y2 = np.minimum(a[2:], b[2:])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def main() -> None:
    import matplotlib
    import ultralytics
    from ultralytics import YOLO

    from finephys_cli.models.detectors import bundled_yolo_pose

    stock, tuned = YOLO(str(bundled_yolo_pose())), YOLO(sys.argv[1])
    photos = [Path(ultralytics.__file__).parent / "assets" / "bus.jpg",
              Path(ultralytics.__file__).parent / "assets" / "zidane.jpg",
              Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]
    found = total = 0
    for photo in photos:
        rs, rt = (m.predict(str(photo), verbose=False, conf=0.25)[0] for m in (stock, tuned))
        bs, bt = rs.boxes.xyxy.numpy(), rt.boxes.xyxy.numpy()
        rows = []
        for i, b in enumerate(bs):
            total += 1
            if not len(bt):
                rows.append("missed")
                continue
            ious = [iou(b, c) for c in bt]
            j = int(np.argmax(ious))
            diff = np.median(np.linalg.norm(rs.keypoints.xy.numpy()[i]
                                            - rt.keypoints.xy.numpy()[j], axis=-1))
            found += ious[j] >= 0.5
            rows.append(f"IoU {ious[j]:.2f}, keypoints {100 * diff / (b[3] - b[1]):.0f}% of "
                        "height apart")
        print(f"{photo.name}: stock {len(bs)} people, tuned {len(bt)}; " + "; ".join(rows))
    print(f"stock's people matched by the tuned model at IoU >= 0.5: {found} of {total}")


if __name__ == "__main__":
    main()
