"""The prompt table: a free-text prompt -> a Gym99 FX class, and the class's extended
description (the paper extends each label into a plain-language description, appendix A).
Descriptions are written from the same class programs that drive `synth`, so the text, the
synthetic motion and the label agree."""

from __future__ import annotations

import re

from .classes import GymClass, load_classes
from .synth_motion import PROGRAMS

_NUM = {0.25: "a quarter", 0.5: "a half", 0.75: "three quarters", 1.0: "one", 1.5: "one and a half",
        2.0: "two", 2.5: "two and a half", 3.0: "three"}
_SHAPES = {"TUCK": "tucked with the knees pulled to the chest",
           "PIKE": "piked with straight legs and bent hips",
           "STRETCH": "straight", "TWIST_STRETCH": "straight with the arms held in",
           "TURN_SPLIT_UP": "the free leg held upward in a 180 degree split",
           "TURN_TUCK_STAND": "in a deep tuck stand with the free leg straight forward",
           "TURN_PASSE": "the free leg bent below horizontal",
           "TURN_HEEL_FWD": "the heel of the free leg held forward at horizontal",
           "SPLIT": "legs split front and back", "STRADDLE": "legs straddled to the sides",
           "SIDE_SPLIT": "legs in a side split", "STAG": "front knee bent in a stag position",
           "RING": "back leg bent up towards the head in a ring position",
           "WALKOVER": "legs split as in a walkover"}


def _count(x: float, unit: str) -> str:
    word = _NUM.get(abs(x), f"{abs(x):g}")
    plural = "s" if abs(x) > 1 and x not in (1.5,) else ""
    return f"{word} {unit}{plural}"


def _shape_name(shape: dict) -> str:
    from . import synth_motion as sm

    for name, desc in _SHAPES.items():
        ref = getattr(sm, name)
        if ref == shape or sm._mirror(ref) == shape:
            return desc
    return "a held shape"


def prompt_table() -> dict[int, list[str]]:
    """The extended prompts per Gym99 class (data_manifests/fx_prompts.csv, shipped as package
    data); variant 1 first."""
    import csv
    from importlib import resources

    text = (resources.files("finephys_cli.assets") / "fx_prompts.csv").read_text()
    table: dict[int, list[tuple[int, str]]] = {}
    for row in csv.DictReader(text.splitlines()):
        table.setdefault(int(row["gym99_class"]), []).append((int(row["variant"]), row["prompt"]))
    return {k: [p for _, p in sorted(v)] for k, v in table.items()}


def describe(gym_class: GymClass) -> str:
    """The class's extended prompt from the prompt table (variant 1)."""
    prompts = prompt_table().get(gym_class.gym99_class)
    return prompts[0] if prompts else describe_from_program(gym_class)


def describe_from_program(gym_class: GymClass) -> str:
    """A description written from the class's synth program (how the table was drafted)."""
    prog = PROGRAMS[gym_class.gym99_class]
    shape = _shape_name(prog.shape)
    if prog.kind == "turn":
        return (f"A gymnast on the floor rises onto one leg and spins {_count(prog.turn, 'full turn')} "
                f"around the vertical axis on the supporting foot, {shape}, then steps down and "
                f"finishes with arms raised.")
    if prog.kind == "jump":
        turn = f", rotating {_count(prog.turn, 'turn')} in the air" if prog.turn else ""
        return (f"A gymnast on the floor springs into the air from "
                f"{'one foot' if prog.takeoff == 'one' else 'both feet'}, reaches a position with "
                f"{shape} at the top of the flight{turn}, and lands on the floor.")
    direction = "backward" if prog.salto < 0 else "forward"
    if prog.twist_first:
        direction = "backward take-off, a half twist early, then forward"
    twist = f", with {_count(prog.twist, 'twist')} around the long axis" if prog.twist else ""
    return (f"A gymnast on the floor punches off {'one foot' if prog.takeoff == 'one' else 'both feet'}"
            f" and performs {_count(abs(prog.salto), 'somersault')} ({direction}) with the body {shape}"
            f"{twist}, and lands on both feet.")


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+|\d+(?:\.\d+)?", text.lower()))


def match_prompt(text: str) -> GymClass | None:
    """The class whose label best matches the prompt: an exact label (case-insensitive), else
    the best word overlap whose numbers (turns, twists) agree; None when nothing fits."""
    t = text.strip().lower()
    classes = load_classes()
    for c in classes:
        if c.label.lower() == t:
            return c
    words = _tokens(t)
    nums = {w for w in words if w[0].isdigit()}
    best, best_score = None, 0.0
    for c in classes:
        lw = _tokens(c.label)
        if nums and nums != {w for w in lw if w[0].isdigit()}:
            continue
        score = len(words & lw) / len(words | lw)
        if score > best_score:
            best, best_score = c, score
    return best if best_score >= 0.5 else None


def extend_with(text: str, gym_class: GymClass) -> str:
    """`text` followed by the class's extended description (the prompt generate conditions on,
    and the one its training clips carry with the class label as `text`)."""
    return f"{text.strip()}. {describe(gym_class)}"


def extend_prompt(text: str) -> tuple[str, GymClass | None]:
    """(prompt extended with the class description, the class) — or the prompt unchanged."""
    c = match_prompt(text)
    return (extend_with(text, c), c) if c else (text.strip(), None)
