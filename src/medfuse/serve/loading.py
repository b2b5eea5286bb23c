"""The model of the service: loaded once, with the checks ``medfuse predict`` makes."""

from __future__ import annotations

from pathlib import Path

from medfuse.predictor import Predictor


def load_predictor(model_dir: str | Path, trust=(), unseen_batch: str | None = None
                   ) -> Predictor:
    """Load a model folder as ``medfuse predict`` does: the ``trust`` names checked first,
    the manifest read and checked before the model, the model loaded through the allowlist
    (:func:`medfuse.persist.load_model`) and compared with its manifest.

    Parameters
    ----------
    model_dir : str or Path
        A folder written by :func:`medfuse.persist.save_model`.
    trust : iterable of str
        Exact names of classes of your own to load (see :func:`medfuse.persist.check_trust`).
    unseen_batch : str, optional
        What the model's harmonizers do with subjects of a batch they were not fitted on
        (:meth:`Predictor.set_unseen_batch <medfuse.predictor.Predictor.set_unseen_batch>`).

    Returns
    -------
    Predictor
        Ready to predict from several threads at once.

    Raises
    ------
    UntrustedModelError
        When the folder fails a check (a type outside the allowlist, a digest that does not
        match, a manifest that does not describe the model).
    ValueError
        For a ``trust`` name that cannot be trusted, a manifest without a layout, or an
        unknown ``unseen_batch`` policy.
    FileNotFoundError
        When the folder holds no model.
    """
    from medfuse.intake import manifest_layout, same_layout
    from medfuse.persist import UntrustedModelError, check_trust, read_manifest

    trust = tuple(trust or ())
    check_trust(trust)
    layout = manifest_layout(read_manifest(model_dir))
    predictor = Predictor.load(model_dir, trust=trust)
    if not same_layout(layout, predictor.model):
        raise UntrustedModelError(f"{model_dir}/manifest.json does not describe the model in "
                                  "estimator.skops (modalities, kinds or features differ); "
                                  "save the model again.")
    if unseen_batch is not None:
        predictor.set_unseen_batch(unseen_batch)
    return predictor
