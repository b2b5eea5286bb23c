"""The exact names a saved medfuse model may hold: the one place trust is pinned.

Every name is compared whole (never as a prefix), so look-alikes such as ``numpy_evil.x``,
``sklearnx.y`` or ``medfuse_evil.z`` never pass, and nothing read from a model folder can add
to these sets. ``trust=`` (``medfuse predict --trust``) adds exact names for one load only.

``tests/security/test_allowlist.py`` fits and saves every registered strategy (both tasks)
and the built-in preprocessors, and names any type it meets that is missing here: when a class
moves module or a strategy is added, the fix is one line in this file.
"""

from __future__ import annotations

#: Classes whose instances a saved model holds; skops rebuilds them attribute by attribute
#: (``ObjectNode``). Found by saving every registered strategy and preprocessor.
ESTIMATOR_TYPES: frozenset[str] = frozenset({
    # strategies
    "medfuse.fusion.additive.AdditiveFusion",
    "medfuse.fusion.cca.CCAClassifier",
    "medfuse.fusion.early.EarlyFusion",
    "medfuse.fusion.ensemble.EnsembleSelection",
    "medfuse.fusion.kernel.MKLFusion",
    "medfuse.fusion.late.LateFusion",
    "medfuse.fusion.latent.BlockPLSClassifier",
    "medfuse.fusion.neural.models.AttentionFusion",
    "medfuse.fusion.neural.models.CrossAttentionFusion",
    "medfuse.fusion.neural.models.IntermediateFusion",
    "medfuse.fusion.crossmodal.distillation.DistillationFusion",
    "medfuse.fusion.crossmodal.distillation_student.DistilledStudent",
    "medfuse.fusion.crossmodal.contrastive_fusion.ContrastiveFusion",
    "medfuse.fusion.crossmodal.disentangle.DisentangledFusion",
    "medfuse.fusion.stacking.StackingFusion",
    "medfuse.fusion.survival.CoxEarly",
    "medfuse.fusion.survival.CoxLate",
    "medfuse.fusion.survival.UnimodalCox",
    "medfuse.fusion.unimodal.Unimodal",
    "medfuse.fusion.represented.RepresentedClassifier",
    "medfuse.fusion.represented.RepresentedSurvival",
    "medfuse.fusion.conformal.ConformalClassifier",
    "medfuse.fusion.imputed.ImputedClassifier",
    "medfuse.fusion.crossmodal.cotraining.CoTraining",
    "medfuse.fusion.imputed.ImputedSurvival",
    # detectors of events in streams
    "medfuse.streams.designs.EarlyDetector",
    "medfuse.streams.designs.FastDetector",
    "medfuse.streams.designs.HybridDetector",
    "medfuse.streams.designs.SlowDetector",
    # imputers of missing modalities and their parts
    "medfuse.preprocess.impute.methods.MeanImputer",
    "medfuse.preprocess.impute.methods.KNNModalityImputer",
    "medfuse.preprocess.impute.methods.IterativeModalityImputer",
    "medfuse.preprocess.impute.methods.CrossModalImputer",
    "medfuse.preprocess.impute.translator.TranslatorImputer",
    "medfuse.preprocess.impute.cycle.CycleTranslatorImputer",
    "medfuse.preprocess.impute.encoding.PredictorEncoder",
    "medfuse.preprocess.impute.encoding.TargetScale",
    "sklearn.cross_decomposition._pls.PLSRegression",
    "sklearn.decomposition._pca.PCA",
    "sklearn.impute._knn.KNNImputer",
    "sklearn.linear_model._bayes.BayesianRidge",
    # their fitted parts and parameters
    "medfuse.fusion.survival.PenalizedCox",
    "medfuse.fusion.classifiers.RowSpaceLogisticRegressionCV",
    "medfuse.fusion._latent_base.ConfounderRegressor",
    "medfuse.fusion.neural.encoders.EncoderSpec",
    "medfuse.fusion.neural.objectives.AuxiliaryHeads",
    "medfuse.fusion.neural.objectives.CrossEntropy",
    "medfuse.fusion.neural.objectives.Reconstruction",
    "medfuse.fusion.calibration.IsotonicCalibrator",
    "medfuse.fusion.calibration.PlattCalibrator",
    "medfuse.fusion.calibration.TemperatureCalibrator",
    "medfuse.fusion.calibration.VennAbersCalibrator",
    # representations (raw modalities -> feature blocks)
    "medfuse.represent.arrays.Flatten",
    "medfuse.imaging.represent.Radiomics",
    "medfuse.imaging.crop.MaskCrop",
    "medfuse.represent.image.ImageStatistics",
    "medfuse.represent.sequence.KmerSpectrum",
    "medfuse.represent.series.SeriesSummary",
    "medfuse.represent.step.RepresentationStep",
    # preprocessors (defaults and the ones a strategy's ``preprocessors=`` may name)
    "medfuse.preprocess._design.CovariateCoding",
    "medfuse.preprocess.arrays.ChannelStandardizer",
    "medfuse.preprocess.chain.ObsChain",
    "medfuse.preprocess.clinical.ClinicalEncoder",
    "medfuse.preprocess.combat_seq.ComBatSeq",
    "medfuse.preprocess.counts.LogCPM",
    "medfuse.preprocess.counts.MedianOfRatios",
    "medfuse.preprocess.counts.TPM",
    "medfuse.preprocess.counts.VST",
    "medfuse.preprocess.harmonize.ComBat",
    "medfuse.preprocess.resample.ImageResampler",
    "medfuse.preprocess.resample.SeriesResampler",
    "medfuse.preprocess.scaling.ZScore",
    "medfuse.preprocess.screening.FeatureScreen",
    # scikit-learn parts of the default models and preprocessing
    "sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._logistic.LogisticRegressionCV",
    "sklearn.model_selection._split.StratifiedKFold",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
})

#: The random generator a saved model may hold (gradient boosting keeps the one of its feature
#: subsampling); the audit also requires numpy's default bit generator, ``PCG64``.
RANDOM_GENERATORS: frozenset[str] = frozenset({"numpy.random._generator.Generator"})

#: Text-valued parameters of allowlisted classes whose value decides what the class does with
#: the data at prediction time, and the values the library itself uses. A saved model holding
#: another value is refused by the audit: ``TfidfVectorizer(input="filename")`` would read the
#: files named by the new subjects' text, a crafted ``token_pattern`` can take forever to
#: match, a callable ``preprocessor``/``tokenizer`` runs code, and a ``Pipeline`` with
#: ``memory`` writes cache files.
PARAMETER_VALUES: dict[str, dict[str, frozenset]] = {
    "sklearn.feature_extraction.text.TfidfVectorizer": {
        "input": frozenset({"content"}),
        "encoding": frozenset({"utf-8"}),
        "decode_error": frozenset({"strict", "ignore", "replace"}),
        "strip_accents": frozenset({None, "ascii", "unicode"}),
        "analyzer": frozenset({"word", "char", "char_wb"}),
        "preprocessor": frozenset({None}),
        "tokenizer": frozenset({None}),
        "token_pattern": frozenset({r"(?u)\b\w\w+\b", None}),
        "stop_words": frozenset({None, "english"}),
        "norm": frozenset({"l1", "l2", None}),
    },
    "sklearn.feature_extraction.text.TfidfTransformer": {
        "norm": frozenset({"l1", "l2", None}),
    },
    "sklearn.pipeline.Pipeline": {"memory": frozenset({None})},
}

#: Whole numbers a saved network is rebuilt from, and the cap of :mod:`medfuse.limits` each
#: is held to before skops builds anything (a model asking for a billion networks, or for
#: layers millions wide, is refused while it is still JSON). The architecture is compared with
#: the weights' shapes later, before any layer is allocated.
_NETWORK_SIZES = {"n_ensemble": "ENSEMBLE", "latent_dim": "NETWORK_WIDTH",
                  "head_hidden": "NETWORK_WIDTH", "conv_width": "NETWORK_WIDTH",
                  "hidden": "NETWORK_WIDTH", "attn_dim": "NETWORK_WIDTH",
                  "n_heads": "NETWORK_WIDTH", "input_shapes_": "NETWORK_WIDTH"}
SIZE_PARAMETERS: dict[str, dict[str, str]] = {
    f"medfuse.fusion.neural.models.{name}": _NETWORK_SIZES
    for name in ("IntermediateFusion", "AttentionFusion", "CrossAttentionFusion")}
SIZE_PARAMETERS["medfuse.fusion.crossmodal.distillation_student.DistilledStudent"] = \
    _NETWORK_SIZES
SIZE_PARAMETERS["medfuse.fusion.crossmodal.contrastive_fusion.ContrastiveFusion"] = _NETWORK_SIZES
SIZE_PARAMETERS["medfuse.fusion.crossmodal.disentangle.DisentangledFusion"] = _NETWORK_SIZES

#: Functions stored as attribute values. The default classifier's inner cross-validation
#: scores with medfuse's own log-likelihood (``LogisticRegressionCV(scoring=...)``); no other
#: function is loaded, whatever its module.
FUNCTIONS: frozenset[str] = frozenset({
    "medfuse.fusion.classifiers.neg_log_loss",
})

#: numpy scalar types of stored numbers (data, no behaviour): which ones occur depends on the
#: data, so the numeric ones are listed whole.
NUMPY_SCALAR_TYPES: frozenset[str] = frozenset({
    "numpy.bool",
    "numpy.float16", "numpy.float32", "numpy.float64",
    "numpy.int8", "numpy.int16", "numpy.int32", "numpy.int64",
    "numpy.uint8", "numpy.uint16", "numpy.uint32", "numpy.uint64",
    "numpy.str_",
})

#: Types stored as values: dict key types (skops converts each key with its type) and
#: ``dtype=`` parameters. Every one is a plain data constructor.
TYPE_VALUES: frozenset[str] = frozenset({
    "builtins.bool", "builtins.float", "builtins.int", "builtins.str",
}) | NUMPY_SCALAR_TYPES

#: The skops file protocols whose layout :mod:`medfuse.persist.skops_audit` knows. A newer
#: skops that writes another protocol makes saved models refuse to load (with a message) until
#: the audit is checked against it and the number added here.
SKOPS_PROTOCOLS: frozenset[int] = frozenset({2})

#: Modules whose names are refused even when given to ``trust=``: they hold functions that
#: run code, open files or reach the operating system.
NEVER_TRUSTED_MODULES: frozenset[str] = frozenset({
    "__main__", "builtins", "code", "codeop", "ctypes", "functools", "importlib", "inspect",
    "io", "marshal", "nt", "operator", "os", "pathlib", "pickle", "posix", "pty", "runpy",
    "shutil", "socket", "subprocess", "sys", "tempfile", "types", "webbrowser",
})

#: Name prefixes refused even when given to ``trust=`` (test helpers that ``exec`` code).
NEVER_TRUSTED_PREFIXES: tuple[str, ...] = ("numpy.testing.",)
