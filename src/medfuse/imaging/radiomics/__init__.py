"""IBSI-1 radiomics: feature families over a region of interest (:class:`ROI`)."""

from medfuse.imaging.radiomics.roi import ROI, Discretisation, roi_from_levels

__all__ = ["ROI", "Discretisation", "roi_from_levels"]
