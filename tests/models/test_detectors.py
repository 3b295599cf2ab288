import numpy as np


def test_half_precision_argument_is_one_the_installed_ultralytics_accepts(monkeypatch):
    """fp16 detection on CUDA: Ultralytics 8.4 calls it `quantize=16`, 8.3 `half=True`, and
    each rejects the other's name (8.3 printed its CLI help, and every GPU detect failed)."""
    import ultralytics.cfg as ucfg

    from finephys_cli.models.detectors import UltralyticsPose, half_precision_args

    args = half_precision_args()
    ucfg.check_dict_alignment(ucfg.DEFAULT_CFG_DICT, args)      # raises on an unknown key
    detector = UltralyticsPose(None, device="cpu", imgsz=64, half=True)  # the bundled yolo11n-pose
    out = detector([np.zeros((64, 64, 3), np.uint8)])
    assert len(out) == 1
    older = {k: v for k, v in ucfg.DEFAULT_CFG_DICT.items() if k != "quantize"}
    older["half"] = False
    monkeypatch.setattr(ucfg, "DEFAULT_CFG_DICT", older)
    assert half_precision_args() == {"half": True}


def test_newer_ultralytics_gets_quantize(monkeypatch):
    import ultralytics.cfg as ucfg

    from finephys_cli.models.detectors import half_precision_args

    monkeypatch.setattr(ucfg, "DEFAULT_CFG_DICT", {"quantize": None, "imgsz": 640})
    assert half_precision_args() == {"quantize": 16}
