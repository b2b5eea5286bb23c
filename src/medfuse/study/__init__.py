"""The main job as one function: benchmark -> tables -> refitted best model -> report.

:func:`run_study` (:mod:`medfuse.study.run`) is what ``medfuse benchmark`` and ``medfuse
demo`` run; :mod:`medfuse.study.chains` builds the harmonization and screening chains a
study gives every strategy, :mod:`medfuse.study.imputation` the imputation wrapper around
every strategy, :mod:`medfuse.study.design` the shared splits and the checks of the design
before anything is fitted.
"""

from medfuse.study.chains import harmonization_chains, screening_chains
from medfuse.study.design import check_design, study_splits
from medfuse.study.imputation import imputation_methods, imputed_estimators
from medfuse.study.run import StudyOutputs, run_study, strategy_estimators

__all__ = ["StudyOutputs", "check_design", "harmonization_chains", "imputation_methods",
           "imputed_estimators", "run_study", "screening_chains", "strategy_estimators",
           "study_splits"]
