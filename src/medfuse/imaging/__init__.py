"""Imaging as a modality: reading scans (NIfTI, DICOM), resampling, resolution matching,
registration and IBSI-1 radiomics.

A domain package: it turns images into what the lower layers know (arrays with their
geometry, feature blocks through the ``radiomics`` representation, registered by path in
:mod:`medfuse.represent` and imported when first made). Nothing in :mod:`medfuse.fusion`
imports it. Reading and registration need the ``imaging`` extra (nibabel, pydicom,
SimpleITK, scikit-image).
"""
