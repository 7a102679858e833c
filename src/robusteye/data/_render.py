"""Batched renderer behind `robusteye.data.synthetic`: implicit shapes on coordinate grids.

Every image of a chunk is drawn at once at `RENDER_SIZE` pixels on the square [-1, 1]^2 (x to the
right, y downwards), then area-downsampled to 32 x 32 so edges are anti-aliased like a camera
crop. Scene parameters arrive as a dict of float tensors of shape B (one value per image); the
caller owns all randomness except texture noise, drawn from the `torch.Generator` passed in.
Speed matters (thousands of crops in a few seconds on a laptop CPU), hence in-place arithmetic,
no per-image tensor exponents, and occluders drawn on the subset of images that have them.

Over 300 lines because the renderer is one pipeline: every layer (skin, eye, lids, glasses,
hand, hair, sunglasses, blur) draws on the same grids with the same helpers, in an order that
matters, and only reads whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

RENDER_SIZE = 64
OUT_SIZE = 32
#: Occluder codes in `params["occluder"]`; blur and darkness act after downsampling.
NONE, HAND, HAIR, SUNGLASSES, BLUR, OUT_OF_FRAME, DARK = range(7)
N_FOLDS = 3  #: skin folds per crop (`fold_*{k}` parameters; depth 0 switches one off)
_SHUT = 0.45  # below this aperture the lashes mat into a band (see `_shut`)
_PIX = 2.0 / RENDER_SIZE  # one render pixel in scene units: the width of a hard edge

Params = dict[str, torch.Tensor]
Tensor = torch.Tensor


def _fill(sdf: Tensor, width: float = _PIX) -> Tensor:
    """Coverage of a shape from its signed distance (positive inside), ramped over `width`."""
    return sdf.div(width).add_(0.5).clamp_(0.0, 1.0)


def _band(z: Tensor, centre: Tensor | float, width: Tensor | float) -> Tensor:
    """Gaussian profile exp(-((z - centre) / width)^2): lines such as lashes and creases."""
    # The clamp keeps exp() out of denormal floats, which are many times slower on CPUs.
    return torch.sub(z, centre).div_(width).square_().clamp_(max=60.0).neg_().exp_()


def _noise(gen: torch.Generator, b: int) -> Tensor:
    """Smooth multi-octave value noise (about unit range) at render size: the skin texture."""
    coarse = torch.rand(b, 1, 6, 6, generator=gen)
    mid = torch.rand(b, 1, 14, 14, generator=gen)
    fine = torch.rand(b, 1, 20, 20, generator=gen)
    pores = torch.rand(b, 1, OUT_SIZE, OUT_SIZE, generator=gen)
    z = F.interpolate(coarse, size=(OUT_SIZE, OUT_SIZE), mode="bicubic").mul_(1.2)
    z += F.interpolate(mid, size=(OUT_SIZE, OUT_SIZE), mode="bilinear").mul_(0.6)
    z += F.interpolate(fine, size=(OUT_SIZE, OUT_SIZE), mode="bilinear").mul_(0.3)
    z += pores.mul_(0.45)
    return F.interpolate(z, size=(RENDER_SIZE, RENDER_SIZE), mode="bilinear")[:, 0].sub_(1.28)


def render(p: Params, gen: torch.Generator) -> Tensor:
    """Render a chunk: returns B x 1 x 32 x 32 float32 in [0, 1]."""
    b = p["skin"].shape[0]
    q = {k: v.view(b, 1, 1) for k, v in p.items()}
    c = (torch.arange(RENDER_SIZE, dtype=torch.float32) + 0.5) * _PIX - 1.0
    v, u = c.view(1, -1, 1), c.view(1, 1, -1)

    # Head pose: the eye-local frame is the crop frame rotated, scaled, shifted and mirrored
    # (left or right eye), so one set of shape formulas draws every pose.
    cos, sin = torch.cos(q["angle"]) / q["scale"], torch.sin(q["angle"]) / q["scale"]
    du, dv = u - q["tx"], v - q["ty"]
    x = (du * cos + dv * sin).mul_(q["flip"])
    y = (dv * cos - du * sin).sub_(x * q["tilt"])  # tilt: outer corner (x > 0) higher
    # An eye detector centres the crop on what it sees: the middle of the lid opening, which
    # for a shut eye is its lash line, sagging below the corners.
    y += q["lower_h"] - (q["lower_h"] + q["upper_h"]) * q["aperture"] / 2

    img = _skin(q, x, y, gen)
    img = _eye(q, img, x, y)
    _on_subset(p["aperture"] < _SHUT, _shut, q, img, x, y)
    _on_subset(p["glasses"] > 0, _glasses, q, img, x, y)
    _on_subset(p["occluder"] == HAND, _hand, q, img, x, y)
    _on_subset(p["occluder"] == HAIR, _hair, q, img, x, y)
    _on_subset(p["occluder"] == SUNGLASSES, _sunglasses, q, img, x, y)

    out = F.interpolate(img[:, None], size=(OUT_SIZE, OUT_SIZE), mode="area")[:, 0]
    # Light and exposure vary slowly, so they are applied at output size (4x fewer pixels):
    # a linear gradient across the crop, a gain, then a gamma curve.
    w = (torch.arange(OUT_SIZE, dtype=torch.float32) + 0.5) * (2.0 / OUT_SIZE) - 1.0
    wu, wv = w.view(1, 1, -1), w.view(1, -1, 1)
    light = (q["grad_u"] * wu + q["grad_v"] * wv).add_(q["gain"])
    # Cast shadows: hair, a hat brim or the nose bridge darken one side of many crops, and a
    # soft blob of shade or sheen lies somewhere on others.
    side = (wu * torch.cos(q["sh_angle"])) + wv * torch.sin(q["sh_angle"]) - q["sh_edge"]
    light *= torch.sigmoid(side.div_(q["sh_soft"])).mul_(-q["sh_depth"]).add_(1.0)
    blob = torch.sub(wu, q["blob_u"]).square_() + torch.sub(wv, q["blob_v"]).square_()
    light *= blob.div_(-(q["blob_r"] ** 2)).exp_().mul_(q["blob"]).add_(1.0)
    # Specular sheen on oily or wet skin: a small bright spot anywhere (lid, brow bone, cheek),
    # so that a bright speck is not only the eye's glint.
    spot = torch.sub(wu, q["spec_u"]).square_() + torch.sub(wv, q["spec_v"]).square_()
    out += spot.div_(-(q["spec_r"] ** 2)).exp_().mul_(q["spec"])
    out = out.mul_(light.clamp_(min=0.05)).clamp_(1e-4, 1.0).log_().mul_(q["gamma"]).exp_()
    # Contrast: scenes range from crisp to flat, low-contrast shots (haze, cheap optics).
    mean = out.mean(dim=(1, 2), keepdim=True)
    out = out.sub_(mean).mul_(q["contrast"]).add_(mean).clamp_(0.0, 1.0)
    out = _blur(out[:, None], p["blur"])
    dark = p["occluder"] == DARK
    out[dark] = out[dark] * p["dark"][dark].view(-1, 1, 1, 1)
    out += torch.randn(out.shape, generator=gen) * p["noise"].view(b, 1, 1, 1)
    return out.clamp_(0.0, 1.0)


def _on_subset(
    mask: Tensor,
    fn: Callable[[Params, Tensor, Tensor, Tensor], Tensor],
    q: Params,
    img: Tensor,
    x: Tensor,
    y: Tensor,
) -> None:
    """Apply `fn` in place to the images selected by `mask` only (occluders are rare)."""
    idx = torch.nonzero(mask).squeeze(1)
    if idx.numel():
        img[idx] = fn({k: t[idx] for k, t in q.items()}, img[idx], x[idx], y[idx])


def _skin(q: Params, x: Tensor, y: Tensor, gen: torch.Generator) -> Tensor:
    """Skin with texture, the orbital hollow, the nose-side shadow and the brow."""
    a = q["half_width"]
    img = _noise(gen, x.shape[0]).mul_(q["skin_tex"]).add_(1.0).mul_(q["skin"])
    # The eye sits in a hollow under the brow ridge: a broad soft shadow above and around it,
    # while the cheekbone below catches the light.
    hollow = _band(x, 0.0, 1.3 * a).mul_(_band(y, -0.25, 0.42))
    img *= hollow.mul_(-q["socket"]).add_(1.0)
    img *= _band(y, q["lower_h"] + 0.7, 0.35).mul_(q["cheek"]).add_(1.0)
    nose = torch.sigmoid(x.add(1.05 * a).div_(-0.12))  # towards the inner corner (x < 0)
    img *= nose.mul_(-q["nose"]).add_(1.0)

    # Brow: a thick soft arc above the crease, thinning towards the temple, with hair streaks.
    t = x / (1.25 * a)
    yb = t.square().sub_(1.0).clamp_(max=1.0).mul_(q["brow_arch"]).sub_(q["brow_y"])
    half = torch.sigmoid(t.mul(3.0)).mul_(-0.45).add_(1.1).mul_(q["brow_thick"] / 2)
    body = _fill(half.sub_(y.sub(yb).abs_()), 0.1)
    ends = torch.sigmoid(t.sub(1.1).div_(-0.08)).mul_(torch.sigmoid(t.add(0.85).div_(0.06)))
    hair = torch.sin(x * 55.0 + y * 25.0 + q["phase"]).mul_(0.2).add_(0.8)
    img.mul_(body.mul_(ends).mul_(hair).mul_(-q["brow_dark"]).add_(1.0))
    # Folds and wrinkles: soft dark creases with a lit edge above, anywhere in the crop (crow's
    # feet, lid and under-eye lines), so that a thin curved line alone does not mean a shut eye.
    for k in range(N_FOLDS):
        line = y - q[f"fold_y{k}"] - x * q[f"fold_s{k}"] - x.square() * q[f"fold_c{k}"]
        depth, fw = q[f"fold_d{k}"], q[f"fold_w{k}"]
        # A crease lit on its upper side: a Gaussian times a ramp across the line.
        ridge = _band(line, 0.0, fw).mul_(line.div_(fw).mul_(0.8).add_(1.0))
        img *= ridge.mul_(_band(x, q[f"fold_x{k}"], q[f"fold_len{k}"])).mul_(-depth).add_(1.0)
    return img


def _eye(q: Params, img: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Lids, crease, sclera, iris, pupil, glints and lashes for a lid aperture in [0, 1]."""
    a, hu, hl, ap = q["half_width"], q["upper_h"], q["lower_h"], q["aperture"]
    t, s, y_low, y_up = _lids(q, x)
    inside = torch.minimum(y - y_up, y_low - y)
    opening = _fill(inside, _PIX / 2)

    # Crease: a soft fold above the open lid arc, fainter when the lid is shut and stretched.
    crease_y = (
        (x / (1.1 * a)).square_().neg_().add_(1.0).clamp_(min=0.0).mul_(-(hu + q["crease_gap"]))
    )
    env = torch.sigmoid(t.abs().sub_(1.05).div_(-0.05))
    img *= _band(y, crease_y, 0.03).mul_(env).mul_(-q["crease"] * (0.7 + 0.3 * ap)).add_(1.0)
    img *= _band(y, y_low + 0.12, 0.07).mul_(_band(t, 0.0, 1.1)).mul_(-0.12).add_(1.0)  # eye bag

    # The eyeball bulges under the lid: a soft highlight, seen on the lid skin around the
    # opening (and across the whole lid when it is shut).
    bulge = _band(x, 0.0, 0.9 * a).mul_(_band(y, 0.2 * (hl - hu), 1.2 * (hl + hu)))
    # Shut, the lid unfolds from the crease and stretches over the eyeball: a brighter lid.
    img *= bulge.mul_(q["bulge"] * (1.6 - ap)).add_(1.0)

    # Eyeball: sclera shaded in the corners and under the lid, then iris, pupil and glints.
    lid_shadow = torch.sub(y, y_up).clamp_(min=0.0).div_(-0.04).exp_().mul_(-0.3).add_(1.0)
    eye = s.mul(0.35).add_(0.65).mul_(q["sclera"]).mul_(lid_shadow)
    icx, icy = q["gaze_x"] * 0.3 * a, (hl - hu) * 0.35 + q["gaze_y"] * 0.05
    ri = q["iris_r"] * a
    d = torch.sub(x, icx).square_().add_(torch.sub(y, icy).square_()).sqrt_()
    # Iris: darker at its rim (the limbal ring) and under the lid's shadow.
    iris = d.div(ri).clamp_(max=1.0).mul_(0.35).add_(0.75).mul_(q["iris"] * lid_shadow)
    eye = eye.lerp_(iris, _fill(ri - d))
    eye = eye.lerp_(torch.full_like(eye, 0.03), _fill(q["pupil"] * ri - d))
    g2 = (
        torch.sub(x, icx + q["glint_dx"])
        .square_()
        .add_(torch.sub(y, icy + q["glint_dy"]).square_())
    )
    eye += g2.div_(-2 * q["glint_r"] ** 2).clamp_(min=-60.0).exp_().mul_(q["glint"])
    img = img.lerp_(eye, opening)

    # Lashes: a dark band on the upper lid edge, thicker outwards; above the edge when open,
    # bunched and hanging below it when shut. The lower lid gets a faint line.
    # Shut, the lashes bunch into a crescent: thickest mid-lid, thin at the corners.
    w = (
        t.clamp(min=0.0)
        .mul_(0.5)
        .add_(1.0)
        .mul_(q["lash_w"] * (1.0 + 2.0 * (1.0 - ap / 0.35).clamp(min=0.0)))
    )
    w *= (1 - s).mul_((ap - 1) * 0.6).add_(1.0)
    centre = y_up - w * (0.6 * ap - 0.35)
    lash_env = torch.sigmoid(t.abs().sub_(1.04).div_(-0.04))
    dark = (q["lash"] * (1.3 - 0.45 * ap)).clamp(max=0.95)
    dark = (1 - s).mul_((ap - 1) * 0.9).add_(1.0).mul_(dark)  # shut: fading towards corners
    img *= _band(y, centre, w).mul_(lash_env).mul_(-dark).add_(1.0).clamp_(min=0.0)
    # Single lashes beyond the line: a comb of short strokes, hanging down when shut.
    comb = torch.sin(x * 110.0 + q["phase"]).mul_(0.5).add_(0.5)
    fringe = _band(y, y_up + (1.2 - 2.4 * ap) * q["lash_w"] * 2.0, q["lash_w"] * 1.5)
    img *= fringe.mul_(comb).mul_(lash_env).mul_(-0.8 * q["lash"]).add_(1.0)
    img *= _band(y, y_low + 0.008, 0.018).mul_(lash_env).mul_(-q["lower_line"]).add_(1.0)
    return img


def _lids(q: Params, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Eye-relative x (t), centre weight s (1 mid-eye, 0 at the corners) and both lid lines."""
    t = x / q["half_width"]
    s = t.square().neg_().add_(1.0).clamp_(min=0.0)
    # Lid profile: a rational bend of s; roundness > 0 gives a round eye, < 0 an almond.
    k = q["roundness"]
    f = s * (1 + k) / (s * k + 1)
    # The upper lid slides from its open arc down to the lower lid; shut, it lies along the
    # lower lid's curve, which is why a closed eye reads as a downward-bowed lash line.
    y_low = f * q["lower_h"]
    return t, s, y_low, y_low - f * ((q["lower_h"] + q["upper_h"]) * q["aperture"])


def _shut(q: Params, img: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """A shut or nearly shut eye: the lashes of both lids mat into a short, thick, dark band
    at mid-lid, with the lower lid's shadow under it and the stretched upper lid shining above.
    """
    t, _, y_low, y_up = _lids(q, x)
    shut = (_SHUT - q["aperture"]).div_(_SHUT - 0.2).clamp_(0.0, 1.0)  # 1 up to 0.2
    mid = _band(t, 0.0, q["band_len"])
    thick = q["lash_w"] * q["band_w"]
    band = _band(y, y_up + 0.3 * thick, thick).mul_(mid).mul_(-q["band_dark"] * shut)
    # Below the lid edge the band breaks into single hanging lashes.
    comb = torch.sin(x * 45.0 + y * 10.0 + q["phase"]).mul_(0.45).add_(0.55)
    band *= torch.sigmoid(torch.sub(y, y_up).div_(0.03)).mul_(comb.sub_(1.0)).add_(1.0)
    img *= band.add_(1.0).clamp_(min=0.0)
    img *= _band(y, y_low + thick + 0.08, 0.07).mul_(mid).mul_(-0.2 * shut).add_(1.0)
    lid = _band(y, y_up - thick - 0.2, 0.2).mul_(_band(t, 0.0, 0.8))
    return img.mul_(lid.mul_(q["lid_shine"] * shut).add_(1.0))


def _glasses(q: Params, img: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Clear glasses: a rounded-rectangle frame around the eye and a faint lens reflection."""
    bx, by, r = 1.45 * q["half_width"], q["frame_h"], 0.18
    qx = (x - 0.05 * q["half_width"]).abs_().sub_(bx - r)
    qy = (y + 0.02).abs_().sub_(by - r)
    sdf = qx.clamp(min=0).square_().add_(qy.clamp(min=0).square_()).sqrt_()
    sdf += torch.maximum(qx, qy).clamp_(max=0.0).sub_(r)
    ring = _fill(q["frame_w"] / 2 - sdf.abs())
    streak = _band(x + 0.6 * y, q["streak_pos"], 0.08).mul_(_fill(-sdf)).mul_(0.1 * q["streak"])
    return img.add_(streak).lerp_(q["frame_val"].expand_as(img), ring)


def _cover(q: Params, shape: torch.Size) -> tuple[Tensor, Tensor, Tensor]:
    """Crop-fixed coordinates across / along an occluder's wavy edge, and its coverage."""
    c = (torch.arange(RENDER_SIZE, dtype=torch.float32) + 0.5) * _PIX - 1.0
    v, u = c.view(1, -1, 1), c.view(1, 1, -1)
    cos, sin = torch.cos(q["occ_angle"]), torch.sin(q["occ_angle"])
    across = (u * cos + v * sin).expand(shape)
    along = (v * cos - u * sin).expand(shape)
    edge = torch.sin(along * 7.0 + q["phase"]).mul_(0.06).add_(q["occ_edge"])
    return across, along, _fill(across - edge, 0.06)


def _hand(q: Params, img: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """A hand: skin of another shade, fingers as bright bands with dark creases between."""
    across, along, cover = _cover(q, img.shape)
    fingers = torch.cos(along * (2 * math.pi) / q["finger_w"] + q["phase"])
    hand = fingers.clamp(min=0.0).pow_(12).mul_(-0.35).add_(fingers.mul_(0.15)).add_(0.85)
    hand *= torch.sigmoid((across - q["occ_edge"] - 0.25) / 0.1).mul_(0.25).add_(0.75)
    return img.lerp_(hand.mul_(q["occ_val"]).clamp_(0, 1), cover)


def _hair(q: Params, img: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """A lock of hair: dark, with strands of varying brightness running along it."""
    across, along, cover = _cover(q, img.shape)
    bend = torch.sin(across * 3.0 + q["phase"]).mul_(4.0)
    strands = torch.sin(along * (6.0 / q["finger_w"]) + bend).add_(
        torch.sin(along * (17.0 / q["finger_w"]) + across * 9.0).mul_(0.5)
    )
    hair = strands.mul_(0.3).add_(1.0).mul_(q["occ_val"]).clamp_(0, 1)
    return img.lerp_(hair, cover.mul_(q["occ_alpha"]))


def _sunglasses(q: Params, img: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Dark sunglasses over the eye: a near-black lens, a broad reflection and a rim."""
    a = q["half_width"]
    ell = (x / (1.45 * a)).square_().add_(((y + 0.03) / q["frame_h"].clamp(min=0.45)).square_())
    ell = ell.sqrt_().neg_().add_(1.0).mul_(0.6)  # approximate distance inside the lens edge
    refl = _band(x + 0.8 * y, q["streak_pos"], 0.15).mul_(0.25 * q["streak"])
    glass = (y * 0.3 + 1.0).mul_(q["occ_val"]).add_(refl).clamp_(0, 1)
    glass = glass.lerp_(torch.zeros_like(glass), _fill(0.05 - ell.abs()))
    return img.lerp_(glass, _fill(ell))


def _blur(img: Tensor, sigma: Tensor) -> Tensor:
    """Separable Gaussian blur with one sigma (in output pixels) per image, as a grouped conv."""
    b = img.shape[0]
    radius = max(1, math.ceil(3 * float(sigma.max())))
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (r.view(1, -1) / sigma.view(-1, 1).clamp(min=0.05)) ** 2)
    k = k / k.sum(dim=1, keepdim=True)
    z = F.pad(img.view(1, b, OUT_SIZE, OUT_SIZE), (radius,) * 4, mode="replicate")
    z = F.conv2d(z, k.view(b, 1, 1, -1), groups=b)
    z = F.conv2d(z, k.view(b, 1, -1, 1), groups=b)
    return z.view(b, 1, OUT_SIZE, OUT_SIZE)
