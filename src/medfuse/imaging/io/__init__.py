"""Reading scans and their masks: NIfTI files, DICOM series, DICOM SEG and RTSTRUCT.

Conventions of the package
--------------------------
* Voxel arrays are ``(z, y, x)``: axis 0 runs across slices, axis 1 down the rows of a
  slice, axis 2 along a row. ``spacing`` is in millimetres in the same ``(z, y, x)`` order.
* Physical positions are in the DICOM patient frame **LPS**: +x towards the patient's left,
  +y posterior, +z superior, in millimetres. ``origin`` is the LPS position ``(x, y, z)`` of
  the centre of voxel ``(0, 0, 0)``; ``direction`` is a 3 x 3 matrix whose columns are the
  LPS unit vectors along which the array's x, y and z indices grow (the layout of a
  row-major reshape of a 9-element ITK direction).
* NIfTI stores its affine in **RAS** (+x right, +y anterior): the readers negate the first
  two rows of that affine to bring it to LPS.

Every problem with the input is a :class:`~medfuse.data.validation.DataValidationError` whose
message names the file (and the subject when one is given) and says what to fix.
"""

from medfuse.imaging.io.common import Scan, ScanWarning, UnitsWarning
from medfuse.imaging.io.read import read_mask, read_scan

__all__ = ["Scan", "ScanWarning", "UnitsWarning", "read_mask", "read_scan"]
