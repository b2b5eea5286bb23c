"""The result of a registration, :class:`Registration`: a fitted rigid or affine transform
kept as plain numbers (mapping fixed physical points, LPS in mm, onto moving ones) with the
metric before and after and how the optimiser stopped; it rebuilds the SimpleITK transform,
resamples a moving image or mask onto a fixed grid, and saves to and loads from a JSON-safe
dictionary, so a saved registration needs no pickle."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import SimpleITK as sitk

from medfuse.imaging.sitk_images import ImageLike, _as_image

__all__ = ["Registration"]

Order = Literal["nearest", "linear", "bspline"]

_TRANSFORMS = ("rigid", "affine")
_ORDERS = {"nearest": sitk.sitkNearestNeighbor, "linear": sitk.sitkLinear,
           "bspline": sitk.sitkBSpline}
_N_PARAMETERS = {"rigid": 6, "affine": 12}
_N_FIXED = {"rigid": (3, 4), "affine": (3,)}


@dataclass(frozen=True)
class Registration:
    """A fitted rigid or affine transform, stored as plain numbers.

    The transform maps physical points (LPS, mm) of the fixed image onto the moving image.

    Parameters
    ----------
    transform : {"rigid", "affine"}
        The transform type. A rigid transform has 6 parameters: rotations about x, y and z in
        radians, then the translation (x, y, z) in mm. An affine transform has 12: the 3 x 3
        matrix row by row, then the translation in mm.
    parameters : tuple of float
        The transform parameters, as above.
    fixed_parameters : tuple of float
        The centre of rotation (x, y, z) in mm, LPS (a rigid transform adds one flag for the
        rotation order).
    metric : str
        The similarity metric used (``"mattes"`` or ``"correlation"``).
    metric_value : float
        The metric at the fitted transform, over all voxels of the full-resolution fixed
        image (lower is better; mutual information is reported negated, unitless).
    initial_metric_value : float
        The same metric at the initial transform, for comparison.
    iterations : tuple of int
        Optimiser iterations run at each resolution level, coarse to fine.
    stop_condition : str
        Why the optimiser stopped at the finest level.
    subject : str or None
        The subject the registration belongs to, if given.
    """

    transform: str
    parameters: tuple[float, ...]
    fixed_parameters: tuple[float, ...]
    metric: str
    metric_value: float
    initial_metric_value: float
    iterations: tuple[int, ...]
    stop_condition: str
    subject: str | None = None

    def __post_init__(self) -> None:
        if self.transform not in _TRANSFORMS:
            raise ValueError(f"transform must be one of {_TRANSFORMS}, not {self.transform!r}.")
        object.__setattr__(self, "parameters", tuple(float(p) for p in self.parameters))
        object.__setattr__(self, "fixed_parameters",
                           tuple(float(p) for p in self.fixed_parameters))
        object.__setattr__(self, "iterations", tuple(int(i) for i in self.iterations))
        object.__setattr__(self, "metric_value", float(self.metric_value))
        object.__setattr__(self, "initial_metric_value", float(self.initial_metric_value))
        if len(self.parameters) != _N_PARAMETERS[self.transform]:
            raise ValueError(
                f"A {self.transform} transform has {_N_PARAMETERS[self.transform]} parameters, "
                f"not {len(self.parameters)}.")
        if len(self.fixed_parameters) not in _N_FIXED[self.transform]:
            counts = " or ".join(str(n) for n in _N_FIXED[self.transform])
            raise ValueError(
                f"A {self.transform} transform has {counts} fixed parameters, not "
                f"{len(self.fixed_parameters)}.")
        if not all(math.isfinite(p) for p in self.parameters + self.fixed_parameters):
            raise ValueError("Transform parameters must be finite.")

    def to_sitk(self) -> sitk.Transform:
        """Rebuild the SimpleITK transform.

        Returns
        -------
        SimpleITK.Transform
            A ``Euler3DTransform`` (rigid) or ``AffineTransform`` (affine) mapping fixed
            physical points (mm) onto moving ones.
        """
        out = sitk.Euler3DTransform() if self.transform == "rigid" else sitk.AffineTransform(3)
        out.SetFixedParameters(self.fixed_parameters)
        out.SetParameters(self.parameters)
        return out

    def apply(self, moving_image: ImageLike, reference: ImageLike, order: Order = "linear",
              fill: float = 0.0) -> sitk.Image:
        """Resample an image in the moving space onto the fixed grid.

        Parameters
        ----------
        moving_image : SimpleITK.Image or tuple
            The image to move (the moving image, or another in the same physical space), as a
            SimpleITK image or ``(array, spacing, origin, direction)``; see :func:`to_sitk`.
        reference : SimpleITK.Image or tuple
            The image whose grid (size, spacing in mm, origin, direction) the output takes:
            normally the fixed image.
        order : {"nearest", "linear", "bspline"}
            Interpolation: nearest neighbour, trilinear or cubic B-spline.
        fill : float
            Value given to output voxels that map outside the moving image.

        Returns
        -------
        SimpleITK.Image
            The resampled image on the reference grid: float32 (float64 if the input is
            float64) for linear and B-spline interpolation, the input's pixel type for nearest
            neighbour. :func:`from_sitk` gives its ``(z, y, x)`` array.
        """
        if order not in _ORDERS:
            raise ValueError(f"order must be one of {tuple(_ORDERS)}, not {order!r}.")
        image = _as_image(moving_image, "moving", self.subject)
        grid = _as_image(reference, "reference", self.subject)
        if order == "nearest":
            pixel = image.GetPixelID()
        elif image.GetPixelID() == sitk.sitkFloat64:
            pixel = sitk.sitkFloat64
        else:
            pixel = sitk.sitkFloat32
            image = sitk.Cast(image, sitk.sitkFloat32)
        return sitk.Resample(image, grid, self.to_sitk(), _ORDERS[order], float(fill), pixel)

    def apply_mask(self, mask: ImageLike, reference: ImageLike) -> sitk.Image:
        """Resample a mask or label map in the moving space onto the fixed grid.

        Nearest-neighbour interpolation keeps the labels as they are (a 0/1 mask stays 0/1);
        voxels that map outside the mask are 0.

        Parameters
        ----------
        mask : SimpleITK.Image or tuple
            The mask, as a SimpleITK image or ``(array, spacing, origin, direction)``;
            boolean arrays become ``uint8``.
        reference : SimpleITK.Image or tuple
            The image whose grid the output takes: normally the fixed image.

        Returns
        -------
        SimpleITK.Image
            The mask on the reference grid, in the mask's pixel type.
        """
        return self.apply(mask, reference, order="nearest", fill=0.0)

    def as_dict(self) -> dict[str, Any]:
        """The registration as plain numbers, lists and strings (JSON-safe)."""
        return {
            "transform": self.transform,
            "parameters": list(self.parameters),
            "fixed_parameters": list(self.fixed_parameters),
            "metric": self.metric,
            "metric_value": self.metric_value,
            "initial_metric_value": self.initial_metric_value,
            "iterations": list(self.iterations),
            "stop_condition": self.stop_condition,
            "subject": self.subject,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Registration:
        """Rebuild a registration saved with :meth:`as_dict`.

        Raises
        ------
        ValueError
            If a field is missing or malformed.
        """
        missing = [k for k in ("transform", "parameters", "fixed_parameters") if k not in data]
        if missing:
            raise ValueError(f"A saved registration lacks {', '.join(missing)}.")
        return cls(
            transform=str(data["transform"]),
            parameters=tuple(data["parameters"]),
            fixed_parameters=tuple(data["fixed_parameters"]),
            metric=str(data.get("metric", "mattes")),
            metric_value=float(data.get("metric_value", math.nan)),
            initial_metric_value=float(data.get("initial_metric_value", math.nan)),
            iterations=tuple(data.get("iterations", ())),
            stop_condition=str(data.get("stop_condition", "")),
            subject=None if data.get("subject") is None else str(data["subject"]),
        )
