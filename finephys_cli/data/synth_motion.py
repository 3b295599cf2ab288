"""Physics-consistent synthetic floor gymnastics in H36M-17.

Each Gym99 FX class has a kinematic *program*: a preparation on the floor, an action (a flight or
a turn on one leg) and a landing, with body shapes keyed in time and rotation counts taken from
the label. The physics is imposed, not approximated:

- the pose is built by forward kinematics from fixed bone lengths, so they never change;
- in flight the centre of mass follows an exact ballistic parabola (g = 9.81 m/s^2);
- in flight angular momentum is conserved, so the salto (twist, turn) rate is L / I(t), with
  I(t) the moment of inertia of the current shape, scaled so the label's count is met exactly;
- on the floor a contact ankle is pinned to its planted position.

World frame: y up, the floor at y = 0, travel along x. Body frame: x to the person's left,
y up, z forward. Units: metres, seconds, radians.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .classes import GymClass
from ..skeleton import H36M_BONES

G = 9.81
# Dempster-style mass fractions of the segments whose point masses sit at bone midpoints.
_SEG_MASS = {  # (parent, child): fraction
    (0, 7): 0.25, (7, 8): 0.247, (8, 9): 0.04, (9, 10): 0.041,
    (11, 12): 0.028, (12, 13): 0.022, (14, 15): 0.028, (15, 16): 0.022,
    (1, 2): 0.10, (2, 3): 0.061, (4, 5): 0.10, (5, 6): 0.061,
}
_SEG_MASS_PARENTS = np.array([p for p, _ in _SEG_MASS])
_SEG_MASS_CHILDREN = np.array([c for _, c in _SEG_MASS])
_SEG_MASS_W = np.array(list(_SEG_MASS.values())) / sum(_SEG_MASS.values())

# Joint-angle limits in degrees (gymnasts: hip flexion to a front split, extension to a back
# split with pelvic tilt). Every keyed posture is checked against them.
LIMITS = {
    "trunk_flex": (-45, 95), "hip_flex": (-95, 175), "hip_abd": (-30, 95), "knee": (0, 155),
    "sh_flex": (-60, 185), "sh_abd": (-20, 185), "elbow": (0, 150),
}
POSTURE_KEYS = ("trunk_flex", "r_hip_flex", "r_hip_abd", "r_knee", "l_hip_flex", "l_hip_abd",
                "l_knee", "r_sh_flex", "r_sh_abd", "r_elbow", "l_sh_flex", "l_sh_abd", "l_elbow")


def limit_of(key: str) -> tuple[float, float]:
    return LIMITS[key[2:] if key[:2] in ("r_", "l_") else key]


@dataclass(frozen=True)
class Body:
    """Segment lengths in metres; proportions of stature after Drillis & Contini."""

    height: float
    hip_half: float
    pelvis_spine: float
    spine_thorax: float
    thorax_neck: float
    neck_head: float
    shoulder_half: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    ankle_h: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "Body":
        h = float(rng.uniform(1.45, 1.75))

        def seg(frac: float) -> float:
            return float(h * frac * rng.uniform(0.96, 1.04))

        return cls(height=h, hip_half=seg(0.072), pelvis_spine=seg(0.135),
                   spine_thorax=seg(0.145), thorax_neck=seg(0.07), neck_head=seg(0.07),
                   shoulder_half=seg(0.11), upper_arm=seg(0.186), forearm=seg(0.146),
                   thigh=seg(0.245), shin=seg(0.246), ankle_h=seg(0.039))

    def bone_lengths(self) -> np.ndarray:

        by_child = {1: self.hip_half, 2: self.thigh, 3: self.shin, 4: self.hip_half,
                    5: self.thigh, 6: self.shin, 7: self.pelvis_spine, 8: self.spine_thorax,
                    9: self.thorax_neck, 10: self.neck_head, 11: self.shoulder_half,
                    12: self.upper_arm, 13: self.forearm, 14: self.shoulder_half,
                    15: self.upper_arm, 16: self.forearm}
        return np.array([by_child[c] for _, c in H36M_BONES])


def rot_x(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


_DOWN = np.array([0.0, -1.0, 0.0])
_UP = np.array([0.0, 1.0, 0.0])


def forward_kinematics(body: Body, posture: dict[str, np.ndarray]) -> np.ndarray:
    """Body-frame joints (T,17,3), pelvis at the origin, from posture angles in degrees (T,)."""
    p = {k: np.deg2rad(np.asarray(v, dtype=np.float64)) for k, v in posture.items()}
    t = len(p["trunk_flex"])
    out = np.zeros((t, 17, 3))
    out[:, 1] = [-body.hip_half, 0, 0]
    out[:, 4] = [body.hip_half, 0, 0]
    out[:, 7] = [0, body.pelvis_spine, 0]
    upper = rot_x(p["trunk_flex"])  # (T,3,3): flexion tips the thorax forward (+z)
    out[:, 8] = out[:, 7] + body.spine_thorax * (upper @ _UP)
    neck_dir = np.array([0.0, 0.97, 0.243])
    out[:, 9] = out[:, 8] + body.thorax_neck * (upper @ neck_dir)
    out[:, 10] = out[:, 9] + body.neck_head * (upper @ _UP)
    for side, sign, (sh, el, wr), (hip, kn, an) in (("l", 1.0, (11, 12, 13), (4, 5, 6)),
                                                   ("r", -1.0, (14, 15, 16), (1, 2, 3))):
        out[:, sh] = out[:, 8] + body.shoulder_half * (upper @ np.array([sign, 0.0, 0.0]))
        arm = upper @ rot_x(-p[f"{side}_sh_flex"]) @ rot_z(sign * p[f"{side}_sh_abd"])
        out[:, el] = out[:, sh] + body.upper_arm * (arm @ _DOWN)
        fore = arm @ rot_x(-p[f"{side}_elbow"])
        out[:, wr] = out[:, el] + body.forearm * (fore @ _DOWN)
        thigh = rot_x(-p[f"{side}_hip_flex"]) @ rot_z(sign * p[f"{side}_hip_abd"])
        out[:, kn] = out[:, hip] + body.thigh * (thigh @ _DOWN)
        shin = thigh @ rot_x(p[f"{side}_knee"])
        out[:, an] = out[:, kn] + body.shin * (shin @ _DOWN)
    return out


def centre_of_mass(joints: np.ndarray) -> np.ndarray:
    """(…,17,3) -> (…,3): mass-weighted segment midpoints."""
    mid = 0.5 * (joints[..., _SEG_MASS_PARENTS, :] + joints[..., _SEG_MASS_CHILDREN, :])
    return np.einsum("...sd,s->...d", mid, _SEG_MASS_W)


def inertia_about(joints: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Moment of inertia (per unit mass) about `axis` (…,3) through the COM, plus a small
    segment term so a straight body still has I > 0 about its long axis."""
    mid = 0.5 * (joints[..., _SEG_MASS_PARENTS, :] + joints[..., _SEG_MASS_CHILDREN, :])
    rel = mid - centre_of_mass(joints)[..., None, :]
    axis = axis / np.linalg.norm(axis, axis=-1, keepdims=True)
    along = np.einsum("...sd,...d->...s", rel, axis)
    d2 = (rel ** 2).sum(-1) - along ** 2
    return np.einsum("...s,s->...", d2, _SEG_MASS_W) + 0.004


# -- postures ---------------------------------------------------------------------------------
def _pose(**kw: float) -> dict[str, float]:
    base = dict.fromkeys(POSTURE_KEYS, 0.0)
    base.update({"r_sh_abd": 8.0, "l_sh_abd": 8.0, "r_elbow": 10.0, "l_elbow": 10.0})
    for k, v in kw.items():
        if k.startswith("both_"):
            base["r_" + k[5:]] = v
            base["l_" + k[5:]] = v
        else:
            base[k] = v
    return base


def _mirror(p: dict[str, float]) -> dict[str, float]:
    return {(("l_" + k[2:]) if k.startswith("r_") else ("r_" + k[2:]) if k.startswith("l_")
             else k): v for k, v in p.items()}


STAND = _pose()
ARMS_UP = _pose(both_sh_flex=175, both_sh_abd=5, both_elbow=5)
CROUCH = _pose(trunk_flex=30, both_hip_flex=60, both_knee=95, both_sh_flex=-45, both_elbow=15)
LAND = _pose(trunk_flex=25, both_hip_flex=55, both_knee=80, both_sh_flex=70, both_sh_abd=30)
FINISH = _pose(both_sh_flex=150, both_sh_abd=40, both_elbow=5)
TUCK = _pose(trunk_flex=35, both_hip_flex=125, both_knee=140, both_sh_flex=60, both_elbow=100)
PIKE = _pose(trunk_flex=35, both_hip_flex=110, both_knee=0, both_sh_flex=95, both_elbow=10)
STRETCH = _pose(both_sh_flex=175, both_elbow=5)
TWIST_STRETCH = _pose(both_sh_flex=35, both_sh_abd=-10, both_elbow=140)
SPLIT = _pose(r_hip_flex=90, l_hip_flex=-85, both_sh_flex=90, r_sh_abd=70, l_sh_abd=70,
              trunk_flex=-5)
SPLIT_FROM_SWITCH_START = _pose(r_hip_flex=-30, l_hip_flex=70, l_knee=20, both_sh_flex=60)
STRADDLE = _pose(both_hip_flex=75, both_hip_abd=88, trunk_flex=25, both_sh_flex=95,
                 both_sh_abd=70)
SIDE_SPLIT = _pose(both_hip_flex=5, both_hip_abd=90, both_sh_flex=20, both_sh_abd=160)
STAG = _pose(r_hip_flex=85, r_knee=95, l_hip_flex=-80, both_sh_flex=100, r_sh_abd=60,
             l_sh_abd=60, trunk_flex=-5)
RING = _pose(r_hip_flex=90, l_hip_flex=-85, l_knee=120, trunk_flex=-35, both_sh_flex=175,
             both_elbow=30)
WALKOVER = _pose(r_hip_flex=80, l_hip_flex=-80, both_sh_flex=120, both_sh_abd=20)
TURN_ARMS = dict(both_sh_flex=80, both_sh_abd=35, both_elbow=80)
# FX-TURN shapes: the right leg supports, the left is free.
TURN_SPLIT_UP = _pose(l_hip_flex=172, trunk_flex=-25, l_sh_flex=165, r_sh_flex=90, r_sh_abd=80,
                      l_elbow=20)
TURN_TUCK_STAND = _pose(r_hip_flex=105, r_knee=125, l_hip_flex=95, trunk_flex=45,
                        both_sh_flex=90, both_elbow=20)
TURN_PASSE = _pose(l_hip_flex=70, l_hip_abd=40, l_knee=125, both_sh_flex=165, both_elbow=25)
TURN_HEEL_FWD = _pose(l_hip_flex=90, l_knee=0, trunk_flex=-5, **TURN_ARMS)
TURN_PREP = _pose(r_hip_flex=20, r_knee=30, l_hip_flex=30, l_knee=10, both_sh_flex=80,
                  r_sh_abd=60, l_sh_abd=30)


def _check_limits(p: dict[str, float]) -> None:
    for k, v in p.items():
        lo, hi = limit_of(k)
        if not lo <= v <= hi:
            raise ValueError(f"posture {k}={v} outside the human limit [{lo}, {hi}]")


# -- class programs ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Program:
    """What a class does. Counts are revolutions; `salto` is signed (+ forward, - backward)."""

    kind: str                      # "jump" | "turn" | "salto"
    shape: dict[str, float]        # the held shape in the action phase
    turn: float = 0.0              # about the vertical axis
    salto: float = 0.0             # about the lateral axis
    twist: float = 0.0             # about the body's long axis
    takeoff: str = "two"           # "one" (right foot) | "two"
    early_shape: dict[str, float] | None = None   # shape at the start of flight (switch legs)
    twist_first: bool = False      # Arabian: the half twist comes first
    notes: str = ""


def _jump(shape: dict[str, float], turn: float = 0.0, takeoff: str = "one",
          early: dict[str, float] | None = None, notes: str = "") -> Program:
    return Program("jump", shape, turn=turn, takeoff=takeoff, early_shape=early, notes=notes)


def _salto(shape: dict[str, float], salto: float, twist: float = 0.0, **kw: object) -> Program:
    return Program("salto", shape, salto=salto, twist=twist, **kw)  # type: ignore[arg-type]


PROGRAMS: dict[int, Program] = {
    6: _jump(SPLIT, 0.5, early=SPLIT_FROM_SWITCH_START),
    7: _jump(SPLIT, 1.0, early=SPLIT_FROM_SWITCH_START),
    8: _jump(SPLIT, 1.0),
    9: _jump(SPLIT, 1.5),
    10: _jump(SPLIT, early=SPLIT_FROM_SWITCH_START),
    11: _jump(SPLIT, 1.0, takeoff="two"),
    12: _jump(SPLIT, takeoff="two"),
    # A Johnson is a switch leap with a 1/4 turn to side split; "additional 0.5" makes 0.75.
    13: _jump(SIDE_SPLIT, 0.75, early=SPLIT_FROM_SWITCH_START,
              notes="Johnson = switch leap + 1/4 turn to side split; +0.5 turn = 0.75"),
    14: _jump(STRADDLE, 1.0, takeoff="two"),
    15: _jump(RING, early=SPLIT_FROM_SWITCH_START),
    16: _jump(STAG),
    17: Program("turn", TURN_SPLIT_UP, turn=2.0),
    18: Program("turn", TURN_TUCK_STAND, turn=2.0),
    19: Program("turn", TURN_PASSE, turn=3.0),
    20: Program("turn", TURN_PASSE, turn=2.0),
    21: Program("turn", TURN_PASSE, turn=1.0),
    22: Program("turn", TURN_HEEL_FWD, turn=2.0),
    23: Program("turn", TURN_HEEL_FWD, turn=1.0),
    # Arabian: a backward take-off, a half twist early, then forward saltos.
    24: _salto(TUCK, -2.0, 0.5, twist_first=True,
               notes="backward take-off, 1/2 twist first, then 2 forward saltos"),
    25: _salto(TUCK, 1.0),
    26: _salto(WALKOVER, 1.0, takeoff="one", notes="no-hands walkover: a split-leg front salto"),
    27: _salto(TWIST_STRETCH, 1.0, 2.0),
    28: _salto(TWIST_STRETCH, 1.0, 1.0),
    29: _salto(TWIST_STRETCH, 1.0, 1.5),
    30: _salto(STRETCH, 1.0),
    31: _salto(STRETCH, -2.0),
    32: _salto(TWIST_STRETCH, -1.0, 3.0),
    33: _salto(TWIST_STRETCH, -1.0, 2.0),
    34: _salto(TWIST_STRETCH, -1.0, 2.5),
    35: _salto(TWIST_STRETCH, -1.0, 1.5),
    36: _salto(TUCK, -2.0, 2.0),
    37: _salto(TUCK, -2.0, 1.0),
    38: _salto(TUCK, -2.0),
    39: _salto(PIKE, -2.0, 1.0),
    40: _salto(PIKE, -2.0),
}

for _prog in PROGRAMS.values():
    for _p in (_prog.shape, _prog.early_shape):
        if _p is not None:
            _check_limits(_p)


# -- the generator ----------------------------------------------------------------------------
@dataclass
class Motion:
    """One synthetic sample: world joints and what is known about them."""

    joints: np.ndarray            # (T,17,3) world, metres
    fps: float
    body: Body
    contact: np.ndarray           # (T,2) bool: right, left ankle planted
    t_action: tuple[float, float]  # start and end of flight (or of the turn), seconds
    frame_action: tuple[int, int]  # first and last frame inside the action
    program: Program
    facing: float                 # initial facing yaw (rad) about world y
    meta: dict = field(default_factory=dict)

    @property
    def com(self) -> np.ndarray:
        return centre_of_mass(self.joints)


def _smooth(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def _key_interp(times: np.ndarray, keys: list[tuple[float, dict[str, float]]]
                ) -> dict[str, np.ndarray]:
    """Blend keyed postures with smoothstep between consecutive keys."""
    kt = np.array([k[0] for k in keys])
    out = {}
    for name in POSTURE_KEYS:
        kv = np.array([k[1][name] for k in keys])
        idx = np.clip(np.searchsorted(kt, times, side="right") - 1, 0, len(kt) - 1)
        nxt = np.minimum(idx + 1, len(kt) - 1)
        span = np.where(nxt > idx, kt[nxt] - kt[idx], 1.0)
        u = _smooth((times - kt[idx]) / span)
        out[name] = kv[idx] + (kv[nxt] - kv[idx]) * np.where(nxt > idx, u, 0.0)
    return out


def _rate_profile(times: np.ndarray, inertia: np.ndarray, t0: float, t1: float,
                  revolutions: float, window: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Angle (rad) from 0 to 2π·rev over [t0,t1], rate ∝ 1/I (angular momentum conserved);
    `window` restricts the rotation to a fraction of the phase (e.g. an early half twist)."""
    if revolutions == 0.0:
        return np.zeros_like(times)
    a = t0 + window[0] * (t1 - t0)
    b = t0 + window[1] * (t1 - t0)
    fine = np.linspace(a, b, 2001)
    inv = np.interp(fine, times, 1.0 / inertia)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(fine))])
    cum /= cum[-1]
    return 2 * np.pi * revolutions * np.interp(times, fine, cum, left=0.0, right=1.0)


def generate_motion(gym_class: GymClass, rng: np.random.Generator, fps: float = 25.0,
                    frames: int | None = None) -> Motion:
    """Sample one motion of `gym_class`. `frames` pads (standing) or refuses if too short."""
    prog = PROGRAMS[gym_class.gym99_class]
    body = Body.sample(rng)
    prep = float(rng.uniform(0.4, 0.6))
    land = float(rng.uniform(0.45, 0.6))
    if prog.kind == "turn":
        rate = float(rng.uniform(1.6, 2.4))           # revolutions per second
        action = abs(prog.turn) / rate + 0.2
    elif prog.kind == "jump":
        action = float(rng.uniform(0.5, 0.62))
    else:
        doubles = abs(prog.salto) > 1.5
        action = float(rng.uniform(0.95, 1.08) if doubles else rng.uniform(0.78, 0.9))
    duration = prep + action + land
    natural = int(np.ceil(duration * fps)) + 1
    n = natural if frames is None else frames
    if n < natural:
        from ..errors import InputError

        raise InputError(f"class {gym_class.gym99_class} ({gym_class.label}) needs "
                         f"{natural} frames at {fps:g} fps; use more --frames or a lower --fps")
    lead = float(rng.uniform(0, (n - natural) / fps)) if n > natural else 0.0
    t = np.arange(n) / fps
    t0 = lead + prep
    t1 = t0 + action
    # Key the postures over time.
    mirror = bool(rng.random() < 0.5) and prog.kind != "turn"
    shape = _mirror(prog.shape) if mirror else prog.shape
    early = prog.early_shape and (_mirror(prog.early_shape) if mirror else prog.early_shape)
    if prog.kind == "turn":
        keys = [(0.0, STAND), (lead + 0.15, STAND), (t0 - 0.15, TURN_PREP), (t0, shape),
                (t1 - 0.1, shape), (t1 + 0.25, TURN_PREP), (t1 + land, FINISH), (t[-1] + 1, FINISH)]
    else:
        shape_in = 0.12 if prog.kind == "salto" else 0.3
        pre = [(0.0, STAND), (lead + 0.1, STAND), (t0 - 0.3, CROUCH), (t0, ARMS_UP)]
        if prog.kind == "jump" and early is not None:
            mid = [(t0 + 0.12 * action, early), (t0 + 0.45 * action, shape),
                   (t1 - 0.2 * action, shape)]
        else:
            mid = [(t0 + shape_in * action, shape), (t1 - 0.2 * action, shape)]
        open_pose = STRETCH if prog.kind == "salto" else ARMS_UP
        keys = pre + mid + [(t1 - 0.05, open_pose), (t1 + 0.18, LAND),
                            (t1 + land, FINISH), (t[-1] + 1, FINISH)]
    posture = _key_interp(t, keys)
    fine_t = np.linspace(0, t[-1] if len(t) > 1 else 0.0, max(8 * n, 2))
    fine_local = forward_kinematics(body, _key_interp(fine_t, keys))
    local = forward_kinematics(body, posture)

    facing = float(rng.choice([0.5 * np.pi, -0.5 * np.pi]))  # travel along +x or -x
    travel = np.array([np.sin(facing), 0.0, np.cos(facing)])
    if prog.kind == "salto" and prog.salto < 0:
        facing += np.pi  # backward saltos travel towards the back
    # Rotations: R = Ry(facing + turn) · Rx(salto) · Ry(twist), all about the COM.
    com_local = centre_of_mass(local)
    com_fine = centre_of_mass(fine_local)
    rel_fine = fine_local - com_fine[:, None]
    turn = salto = twist = np.zeros(n)
    if prog.turn:
        sense = float(rng.choice([-1.0, 1.0]))
        i_vert = inertia_about(rel_fine, np.array([0.0, 1.0, 0.0]))
        turn = sense * _rate_profile(t, np.interp(t, fine_t, i_vert), t0, t1, abs(prog.turn),
                                     (0.05, 0.95) if prog.kind == "turn" else (0.0, 1.0))
    if prog.salto:
        i_lat = inertia_about(rel_fine, np.array([1.0, 0.0, 0.0]))
        salto = _rate_profile(t, np.interp(t, fine_t, i_lat), t0, t1, prog.salto)
    if prog.twist:
        sense = float(rng.choice([-1.0, 1.0]))
        i_long = inertia_about(rel_fine, np.array([0.0, 1.0, 0.0]))
        window = (0.05, 0.35) if prog.twist_first else (0.15, 0.85)
        twist = sense * _rate_profile(t, np.interp(t, fine_t, i_long), t0, t1, prog.twist,
                                      window)
    rot = rot_y(facing + turn) @ rot_x(salto) @ rot_y(twist)
    rel = np.einsum("tij,tkj->tki", rot, local - com_local[:, None])  # joints about the COM

    # Translation of the COM: planted feet on the floor, a parabola in flight.
    in_prep = t <= t0 + 1e-9
    in_land = t >= t1 - 1e-9
    in_air = ~in_prep & ~in_land
    if prog.kind == "turn":
        in_air[:] = False
    com = np.zeros((n, 3))
    start_x = float(rng.uniform(-1.0, 1.0))
    anchor = np.array([start_x, 0.0, 0.0])
    r_ankle, l_ankle = 3, 6
    # The preparation: the right ankle is pinned (it is the take-off or support foot).
    pin = anchor + np.array([0.0, body.ankle_h, 0.0])
    ground_before = in_prep if prog.kind != "turn" else np.ones(n, dtype=bool)
    com[ground_before] = pin - rel[ground_before, r_ankle]
    if prog.kind != "turn":
        i0 = int(np.flatnonzero(in_prep)[-1])
        c0 = com[i0]
        # The COM height at touchdown puts the lower ankle on the floor in the landing shape.
        rot1 = rot[-1]  # every rotation is complete at touchdown
        land_local = forward_kinematics(body, _key_interp(np.array([t1]), keys))[0]
        land_rel = (land_local - centre_of_mass(land_local)) @ rot1.T
        y_land = body.ankle_h - min(land_rel[r_ankle, 1], land_rel[l_ankle, 1])
        tau = t1 - t[i0]
        # Flight from the last ground frame: y(tau) = y_land.
        vy = (y_land - c0[1] + 0.5 * G * tau * tau) / tau
        speed = float(rng.uniform(1.2, 2.4) if prog.kind == "jump" else rng.uniform(0.8, 1.8))
        v0 = travel * speed + np.array([0.0, vy, 0.0])
        dt_air = t - t[i0]
        air = in_air | (t == t[i0])
        com[air] = c0 + v0 * dt_air[air, None] + 0.5 * np.array([0, -G, 0]) * dt_air[air, None] ** 2
        # Landing: pin the lower ankle where it touches down.
        land_frames = np.flatnonzero(in_land)
        if len(land_frames):
            c1 = c0 + v0 * tau + 0.5 * np.array([0, -G, 0]) * tau * tau
            foot = r_ankle if land_rel[r_ankle, 1] <= land_rel[l_ankle, 1] else l_ankle
            planted = c1 + land_rel[foot]
            planted[1] = body.ankle_h
            com[land_frames] = planted - rel[land_frames, foot]
    joints = com[:, None] + rel
    # A foot is in contact when on the floor during a ground phase; the pinned one always is.
    ankle_gap = np.abs(joints[:, [r_ankle, l_ankle], 1] - body.ankle_h)
    contact = (ankle_gap < 0.015) & ~in_air[:, None]
    lowest = float(joints[:, [r_ankle, l_ankle], 1].min() - body.ankle_h)
    if lowest < -0.02:
        raise AssertionError(f"class {gym_class.gym99_class}: an ankle goes {-lowest:.3f} m "
                             f"through the floor")
    air_idx = np.flatnonzero(in_air)
    if prog.kind == "turn":
        action_idx = np.flatnonzero((t >= t0) & (t <= t1))
    else:
        action_idx = air_idx
    frame_action = (int(action_idx[0]), int(action_idx[-1])) if len(action_idx) else (0, 0)
    return Motion(joints=joints, fps=fps, body=body, contact=contact, t_action=(t0, t1),
                  frame_action=frame_action, program=prog, facing=facing,
                  meta={"mirror": mirror, "lead_s": lead, "prep_s": prep, "land_s": land})


# -- measurement (used by tests and by `inspect`-style diagnostics) ----------------------------
def pelvis_frames(joints: np.ndarray) -> np.ndarray:
    """(T,17,3) -> (T,3,3) rotation whose columns are the pelvis's left, up and forward axes."""
    lat = joints[:, 4] - joints[:, 1]
    lat /= np.linalg.norm(lat, axis=-1, keepdims=True)
    up = joints[:, 7] - joints[:, 0]
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    fwd = np.cross(lat, up)
    return np.stack([lat, up, fwd], axis=-1)


def measure_rotations(joints: np.ndarray) -> dict[str, float]:
    """Revolutions of turn (about vertical), salto (about the initial lateral axis, + forward)
    and twist (about the long axis), measured from the joints alone."""
    rot = pelvis_frames(joints)
    fwd0 = rot[0, :, 2].copy()
    fwd0[1] = 0.0
    fwd0 /= np.linalg.norm(fwd0)
    facing0 = np.arctan2(fwd0[0], fwd0[2])
    up = rot[:, :, 1]
    salto = np.unwrap(np.arctan2(up @ fwd0, up[:, 1]))
    rel = np.einsum("tji,tjk->tik", rot_x(salto), np.einsum("ji,tjk->tik", rot_y(facing0), rot))
    twist = np.unwrap(np.arctan2(rel[:, 0, 2], rel[:, 0, 0]))
    fwd = rot[:, :, 2]
    turn = np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 2]))
    tau = 2 * np.pi
    return {"turn": float((turn[-1] - turn[0]) / tau), "salto": float((salto[-1] - salto[0]) / tau),
            "twist": float((twist[-1] - twist[0]) / tau)}
