"""Everything a simulated snap leaves to chance, and how each difficulty draws it.

Why a separate module: :class:`SnapParams` is the whole description of one snap, so a
surprising benchmark case can be re-rendered and explained from it alone; drawing those
parameters (how hard, how often glare, how oblique) is a policy that changes on its own —
a new difficulty or a new effect is a new field here, drawn in :func:`draw_params`, and a
stage in :func:`dataset_tools.camera_snap.render_snap` that reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

__all__ = ["CHALLENGES", "DIFFICULTIES", "SnapParams", "draw_params"]

CHALLENGES = ("steep", "occluded", "cut_off", "glass", "low_light")
"""Levels that each add one hard thing of museum photos to a ``default`` snap, so a bench
can say which of them costs recall: a strongly oblique view, a visitor's head or shoulder
in front, the painting partly outside the photo, a reflection on the glass, low light with
its noise. ``hardest`` draws from ``hard`` and adds at least one of them (often several)."""
DIFFICULTIES = ("easy", "default", "hard", *CHALLENGES, "hardest")


@dataclass(frozen=True)
class SnapParams:
    """All random choices behind one snap (lengths are fractions, angles in degrees)."""

    out_size: tuple[int, int]
    difficulty: str
    trim_borders: bool  # hang the painting without the black letterbox bars of its scan
    seed: int  # seeds the texture and noise fields; everything else is below
    # wall
    wall_rgb: tuple[int, int, int]
    wall_blotch: float  # amplitude of low-frequency plaster/paint unevenness
    wall_grain: float  # amplitude of fine texture
    # frame (widths are fractions of the painting's shorter side; 0 = none)
    frame_width: float
    frame_rgb: tuple[int, int, int]
    frame_bevel: float  # strength of the moulding's light/dark profile
    mat_width: float  # passe-partout between frame and painting
    mat_rgb: tuple[int, int, int]
    shadow_strength: float  # drop shadow of the frame on the wall
    shadow_offset: tuple[float, float]  # fraction of the photo diagonal
    # placement and viewpoint
    area_frac: float  # target share of the photo covered by the painting (without frame)
    placement: tuple[float, float]  # where in the leftover room the framed painting sits, 0..1
    yaw_deg: float  # viewer off-axis left/right
    pitch_deg: float  # viewer off-axis up/down
    roll_deg: float  # in-plane tilt of the phone
    fov_deg: float  # horizontal field of view of the phone camera
    # distractors on the wall
    wall_label: bool  # a small museum label card beside the painting
    neighbour: str  # "none", "left" or "right": another framed work running off that edge
    #   of the photo (drawn only where some wall shows between it and the painting)
    neighbour_rgb: tuple[int, int, int]
    # light and camera
    exposure: float
    wb_gains: tuple[float, float, float]  # colour cast (white balance) per RGB channel
    light_angle_deg: float
    light_gradient: float  # brightness change across the photo, fraction
    vignette: float
    glare_strength: float  # 0 = no glare
    glare_center: tuple[float, float]  # fraction of the painting's bounding box
    glare_radius: float  # fraction of the photo diagonal
    blur_kind: str  # "none", "defocus" or "motion"
    blur_px: float  # at output resolution: Gaussian sigma or motion length
    motion_angle_deg: float
    noise_sigma: float  # sensor noise, in 0..255 units
    jpeg_quality: int
    # the challenges (all off in easy/default/hard)
    visitor: str = "none"  # "none", "head" or "shoulder": someone between the phone and the painting
    visitor_x: float = 0.5  # where across the painting (fraction of its bounding box)
    visitor_cover: float = 0.0  # share of the painting's height hidden from its bottom edge up
    visitor_rgb: tuple[int, int, int] = (40, 35, 30)
    outside: float = 0.0  # share of the painting's width (or height) beyond the photo's edge
    outside_side: str = "left"  # "left", "right", "top" or "bottom"
    reflection: float = 0.0  # strength of a window's reflection on the glass (0 = no glass)
    reflection_angle_deg: float = 0.0
    reflection_offset: float = 0.0  # where the bright band crosses the painting, -0.5..0.5


# --------------------------------------------------------------------------- drawing

_WALL_PALETTE = (  # museum walls: whites, greys, and the deep colours of old-master rooms
    (236, 233, 226),
    (224, 224, 220),
    (210, 205, 195),
    (190, 190, 188),
    (150, 150, 150),
    (120, 40, 45),
    (60, 80, 70),
    (40, 55, 80),
    (85, 85, 90),
    (200, 180, 150),
    (160, 120, 90),
)
_FRAME_PALETTE = (
    (180, 140, 60),
    (150, 110, 45),
    (30, 28, 26),
    (90, 60, 35),
    (245, 242, 235),
    (140, 140, 140),
    (60, 40, 25),
    (200, 170, 110),
)


def draw_params(
    rng: np.random.Generator,
    *,
    out_size: tuple[int, int] = (1024, 768),
    difficulty: str = "default",
    trim_borders: bool = True,
) -> SnapParams:
    """Draw every random choice of one snap. ``difficulty`` widens the ranges or adds a
    challenge (:data:`CHALLENGES`). A challenge level draws the same base snap as
    ``default`` from the same ``rng`` (``hardest``: as ``hard``), then its challenge from
    a generator of its own, so a bench can compare the two snap for snap."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, not {difficulty!r}")
    base = "hard" if difficulty == "hardest" else ("default" if difficulty in CHALLENGES else difficulty)
    params = _draw_base(rng, out_size=out_size, difficulty=base, trim_borders=trim_borders)
    if base == difficulty:
        return params
    extra = np.random.default_rng([params.seed, 17])
    if difficulty == "hardest":
        chosen = [c for c in CHALLENGES if extra.random() < 0.4] or [str(extra.choice(CHALLENGES))]
    else:
        chosen = [difficulty]
    changes: dict[str, object] = {"difficulty": difficulty}
    for challenge in chosen:
        changes.update(_CHALLENGE_DRAWS[challenge](extra, params))
    return replace(params, **changes)  # type: ignore[arg-type]  # field values typed per challenge


def _steep(rng: np.random.Generator, p: SnapParams) -> dict[str, object]:
    """A visitor at the side of the crowd: 40-60 degrees off-axis."""
    return {"yaw_deg": float(rng.choice([-1, 1]) * rng.uniform(40.0, 60.0)), "pitch_deg": float(rng.uniform(-12, 12))}


def _occluded(rng: np.random.Generator, p: SnapParams) -> dict[str, object]:
    grey = int(rng.uniform(15, 90))
    return {
        "visitor": str(rng.choice(["head", "shoulder"])),
        "visitor_x": float(rng.uniform(0.2, 0.8)),
        "visitor_cover": float(rng.uniform(0.3, 0.5)),
        "visitor_rgb": (grey + int(rng.integers(0, 25)), grey, max(0, grey - int(rng.integers(0, 15)))),
    }


def _cut_off(rng: np.random.Generator, p: SnapParams) -> dict[str, object]:
    return {
        "outside": float(rng.uniform(0.15, 0.35)),
        "outside_side": str(rng.choice(["left", "right", "top", "bottom"])),
        "area_frac": max(p.area_frac, 0.35),
    }


def _glass(rng: np.random.Generator, p: SnapParams) -> dict[str, object]:
    return {
        "reflection": float(rng.uniform(0.4, 0.75)),
        "reflection_angle_deg": float(rng.uniform(20, 160)),
        "reflection_offset": float(rng.uniform(-0.3, 0.3)),
        "glare_strength": float(max(p.glare_strength, rng.uniform(0.3, 0.7))),
    }


def _low_light(rng: np.random.Generator, p: SnapParams) -> dict[str, object]:
    """A dim room: the phone raises the gain, so the picture is dark and grainy."""
    return {"exposure": float(rng.uniform(0.3, 0.5)), "noise_sigma": float(rng.uniform(8.0, 16.0))}


_CHALLENGE_DRAWS = {
    "steep": _steep,
    "occluded": _occluded,
    "cut_off": _cut_off,
    "glass": _glass,
    "low_light": _low_light,
}


def _draw_base(
    rng: np.random.Generator, *, out_size: tuple[int, int], difficulty: str, trim_borders: bool
) -> SnapParams:
    easy, hard = difficulty == "easy", difficulty == "hard"
    u = rng.uniform

    def jitter(rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
        r, g, b = (int(np.clip(c + rng.normal(0, amount), 0, 255)) for c in rgb)
        return r, g, b

    max_angle = 10.0 if easy else (35.0 if hard else 25.0)
    max_roll = 3.0 if easy else (12.0 if hard else 8.0)
    area_lo, area_hi = (0.35, 0.8) if easy else ((0.15, 0.85) if hard else (0.25, 0.8))

    framed = rng.random() < (0.9 if easy else 0.75)
    frame_width = float(u(0.02, 0.12)) if framed else 0.0
    mat_width = float(u(0.03, 0.10)) if framed and rng.random() < 0.2 else 0.0

    # A blend of sampled viewing angles: most snaps are near frontal, some strongly oblique.
    yaw = float(rng.choice([-1, 1]) * max_angle * rng.beta(1.2, 1.8))
    pitch = float(rng.choice([-1, 1]) * max_angle * 0.6 * rng.beta(1.2, 2.0))

    blur_kind = "none"
    if not easy:
        blur_kind = str(rng.choice(["none", "defocus", "motion"], p=[0.4, 0.35, 0.25]))
    blur_px = 0.0
    if blur_kind == "defocus":
        blur_px = float(u(0.6, 3.0 if hard else 2.0))
    elif blur_kind == "motion":
        blur_px = float(u(3.0, 14.0 if hard else 9.0))
    # blur is given at 1024 px wide and scaled with the output so "how blurry" is size-free
    blur_px *= out_size[0] / 1024.0

    glare = 0.0
    if not easy and rng.random() < (0.7 if hard else 0.5):
        glare = float(u(0.15, 0.8 if hard else 0.55))
    cast = 0.06 if easy else (0.2 if hard else 0.12)

    return SnapParams(
        out_size=(int(out_size[0]), int(out_size[1])),
        difficulty=difficulty,
        trim_borders=bool(trim_borders),
        seed=int(rng.integers(0, 2**31 - 1)),
        wall_rgb=jitter(_WALL_PALETTE[rng.integers(len(_WALL_PALETTE))], 12),
        wall_blotch=float(u(0.005, 0.04)),
        wall_grain=float(u(0.0, 0.04)),
        frame_width=frame_width,
        frame_rgb=jitter(_FRAME_PALETTE[rng.integers(len(_FRAME_PALETTE))], 15),
        frame_bevel=float(u(0.1, 0.5)),
        mat_width=mat_width,
        mat_rgb=jitter((238, 234, 222), 8),
        shadow_strength=float(u(0.0, 0.45)),
        shadow_offset=(float(u(-0.006, 0.006)), float(u(0.0, 0.012))),
        area_frac=float(u(area_lo, area_hi)),
        placement=(float(u(0.1, 0.9)), float(u(0.1, 0.9))),
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=float(u(-max_roll, max_roll)),
        fov_deg=float(u(60.0, 75.0)),
        wall_label=bool(not easy and rng.random() < 0.5),
        neighbour=str(rng.choice(["none", "left", "right"], p=[0.6, 0.2, 0.2])) if not easy else "none",
        neighbour_rgb=jitter((120, 100, 80), 60),
        exposure=float(np.exp(rng.normal(0.0, 0.08 if easy else (0.25 if hard else 0.15)))),
        wb_gains=(float(1 + rng.normal(0, cast / 2)), 1.0, float(1 + rng.normal(-cast / 3, cast / 2))),
        light_angle_deg=float(u(0, 360)),
        light_gradient=float(u(0.0, 0.15 if easy else (0.5 if hard else 0.35))),
        vignette=float(u(0.0, 0.35)),
        glare_strength=glare,
        glare_center=(float(u(0.1, 0.9)), float(u(0.1, 0.9))),
        glare_radius=float(u(0.04, 0.15)),
        blur_kind=blur_kind,
        blur_px=blur_px,
        motion_angle_deg=float(u(0, 180)),
        noise_sigma=float(u(0.5, 2.0 if easy else (8.0 if hard else 5.0))),
        jpeg_quality=int(rng.integers(85, 93) if easy else (rng.integers(50, 86) if hard else rng.integers(60, 93))),
    )
