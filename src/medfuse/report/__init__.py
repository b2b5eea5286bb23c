"""The benchmark report: one self-contained HTML file with tables and embedded figures."""

from medfuse.report import batch as _batch  # noqa: F401  (registers it)
from medfuse.report import conformal as _conformal  # noqa: F401  (registers it)
from medfuse.report import handover as _handover  # noqa: F401  (registers it)
from medfuse.report import interpretation as _interpretation  # noqa: F401  (registers it)
from medfuse.report import missingness as _missingness  # noqa: F401  (registers it)
from medfuse.report import radiomics as _radiomics  # noqa: F401  (registers it)
from medfuse.report import screening as _screening  # noqa: F401  (registers it)
from medfuse.report.html import (
    ReportContext,
    Section,
    register_section,
    render_report,
    write_report,
)

__all__ = ["ReportContext", "Section", "register_section", "render_report", "write_report"]
