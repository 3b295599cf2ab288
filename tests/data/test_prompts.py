from finephys_cli.data.classes import load_classes
from finephys_cli.data.prompts import describe, extend_prompt, match_prompt


def test_every_class_is_described_from_its_program():
    for c in load_classes():
        d = describe(c)
        assert d.startswith("A gymnast") and len(d) > 60, (c.label, d)
    by_id = {c.gym99_class: c for c in load_classes()}
    assert "two twists" in describe(by_id[33]) and "backward" in describe(by_id[33])
    assert "tuck stand" in describe(by_id[18])
    assert "half turn" in describe(by_id[6]) or "a half turn" in describe(by_id[6])
    assert "three full turns" in describe(by_id[19])


def test_prompts_map_to_classes():
    assert match_prompt("switch leap with 0.5 turn").gym99_class == 6
    assert match_prompt("Salto backward stretched with 2 twist").gym99_class == 33
    assert match_prompt("salto backward stretched with 2.5 twist").gym99_class == 34
    assert match_prompt("split leap with 1 turn").gym99_class == 8
    assert match_prompt("a cat playing piano") is None
    text, cls = extend_prompt("switch leap with 0.5 turn")
    assert cls.gym99_class == 6 and text.startswith("switch leap with 0.5 turn. A gymnast")
    assert extend_prompt("a cat") == ("a cat", None)


def test_prompt_table_covers_every_class_and_matches_its_manifest_copy():
    from pathlib import Path

    from finephys_cli.data.prompts import describe_from_program, prompt_table

    table = prompt_table()
    classes = load_classes()
    assert sorted(table) == sorted(c.gym99_class for c in classes)
    assert all(len(v) >= 1 for v in table.values())
    shipped = Path(__file__).parents[2] / "finephys_cli" / "assets" / "fx_prompts.csv"
    manifest = Path(__file__).parents[2] / "data_manifests" / "fx_prompts.csv"
    assert shipped.read_text() == manifest.read_text()
    for c in classes:   # drafted from the synth programs: text, motion and label agree
        assert table[c.gym99_class][0] == describe_from_program(c)


def test_finegym_element_lists_and_times(tmp_path):
    import json

    import pytest

    from finephys_cli.data.finegym import (element_times, load_elements, parse_name,
                                           select_subset)
    from finephys_cli.errors import InputError

    assert parse_name("a_b-c_E_000100_000130_A_0003_0005") == ("a_b-c", "E_000100_000130",
                                                               "A_0003_0005")
    with pytest.raises(InputError):
        parse_name("nonsense")
    (tmp_path / "gym99_val_element.txt").write_text(
        "vid_1_E_000100_000130_A_0003_0005 6\nvid_1_E_000100_000130_A_0006_0008 45\n"
        "v2_E_000010_000020_A_0001_0002 33\n")
    els = load_elements(tmp_path / "gym99_val_element.txt")
    assert [e.split for e in els] == ["val"] * 3
    fx = select_subset(els)
    assert [e.gym99_class for e in fx] == [6, 33]
    assert [e.gym99_class for e in select_subset(els, "FX-SALTO")] == [33]
    ann = {"vid_1": {"E_000100_000130": {"timestamps": [[100.0, 130.0]], "segments": {
        "A_0003_0005": {"timestamps": [[3.2, 4.0], [4.0, 5.5]]}}}}}
    assert element_times(ann, fx[0]) == (103.2, 105.5)
    with pytest.raises(InputError):
        element_times(ann, fx[1])
    (tmp_path / "ann.json").write_text(json.dumps(ann))


def test_prepare_finegym_cuts_clips(tmp_path, runner):
    import json

    import numpy as np

    from finephys_cli.app import app
    from finephys_cli.io.video import probe, write_video

    frames = np.zeros((100, 32, 32, 3), np.uint8)
    frames[:, :, :] = np.arange(100)[:, None, None, None] * 2
    (tmp_path / "src").mkdir()
    write_video(tmp_path / "src" / "vid_1.mp4", frames, fps=25)
    ann = {"vid_1": {"E_000001_000004": {"timestamps": [[1.0, 4.0]], "segments": {
        "A_0000_0001": {"timestamps": [[0.4, 1.0], [1.0, 1.2]]}}}}}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    (tmp_path / "gym99_train_element_v1.1.txt").write_text(
        "vid_1_E_000001_000004_A_0000_0001 7\nvid_9_E_000001_000004_A_0000_0001 8\n")
    res = runner.invoke(app, ["prepare-finegym", str(tmp_path / "ann.json"),
                              str(tmp_path / "gym99_train_element_v1.1.txt"), "--videos",
                              str(tmp_path / "src"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 3 and "vid_9" in res.output          # the missing source is listed
    clip = tmp_path / "out" / "clips" / "vid_1_E_000001_000004_A_0000_0001.mp4"
    assert probe(clip).n_frames == 20                            # 1.4 s .. 2.2 s at 25 fps
    rows = (tmp_path / "out" / "manifest.csv").read_text().splitlines()
    assert rows[0] == "video,class,label,split,source,start_s,end_s"
    assert rows[1].split(",")[1] == "7" and rows[1].endswith("1.400,2.200")
