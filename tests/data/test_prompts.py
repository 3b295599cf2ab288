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
