/**
 * Statistics for monitoring models in production: drift tests equal to scipy/Evidently, bounded
 * column profiles with per-column and dataset verdicts, and model quality metrics equal to
 * scikit-learn. Pure functions, no I/O.
 */
export { mulberry32 } from './random.js';
export {
  logGamma,
  erf,
  erfc,
  normalCdf,
  normalSf,
  regularizedGammaP,
  regularizedGammaQ,
  chiSquareSf,
} from './special.js';
export { kolmogorovSf, smirnovSf, kstwoSf } from './kolmogorov.js';
export { ksTwoSample, type KsMethod, type KsResult } from './ks.js';
export { wassersteinDistance, normedWasserstein, jensenShannonDistance, WASSERSTEIN_MIN_STD } from './distances.js';
export { alignCounts, floorEmptyShares, EMPTY_SHARE_FLOOR, type AlignedCounts, type CategoryCounts } from './shares.js';
export { chiSquareTest, proportionZTest, type ChiSquareResult, type ZTestResult } from './categorical-tests.js';
export {
  psi,
  psiFromShares,
  quantileCuts,
  binCounts,
  DEFAULT_PSI_BINS,
  type NumericPsiResult,
  type CategoricalPsiResult,
} from './psi.js';
export {
  ProfileBuilder,
  profileColumn,
  mergeProfiles,
  OVERFLOW_CATEGORY,
  DEFAULT_PROFILE_OPTIONS,
  type ColumnKind,
  type ColumnProfile,
  type ProfileOptions,
} from './profile.js';
export {
  compareColumn,
  datasetDrift,
  resolveDriftOptions,
  DEFAULT_DRIFT_OPTIONS,
  type DriftOptions,
  type DriftTestName,
  type ColumnDrift,
  type DatasetDrift,
  type DriftHistogram,
  type PsiSummary,
  type PsiLevel,
} from './drift.js';
export {
  binaryClassificationMetrics,
  multiclassMetrics,
  type BinaryClassificationInput,
  type BinaryClassificationMetrics,
  type CalibrationBin,
  type ClassScores,
  type MulticlassMetrics,
} from './classification.js';
export { regressionMetrics, type RegressionMetrics } from './regression.js';
export { logBeta, regularizedBeta } from './incomplete-beta.js';
export {
  studentTCdf,
  studentTSf,
  studentTPdf,
  studentTQuantile,
  normalQuantile,
  normalCriticalValue,
  normalTwoSidedPValue,
} from './student-t.js';
export {
  summarizeProportion,
  summarizeMoments,
  twoProportionZTest,
  welchTTest,
  welchDegreesOfFreedom,
  relativeLift,
  type ArmSummary,
  type Interval,
  type MetricKind,
  type Direction,
  type FixedTestResult,
  type WelchResult,
  type RelativeLift,
} from './ab-tests.js';
export {
  growthbookConfidenceSequence,
  growthbookRho,
  msprtNormal,
  msprtMixingVariance,
  nextSequentialState,
  DEFAULT_SEQUENTIAL_TUNING,
  type ConfidenceSequenceOptions,
  type MsprtOptions,
  type MsprtResult,
  type MixingVarianceOptions,
  type SequentialLook,
  type SequentialState,
  type SequentialCarry,
} from './sequential.js';
export {
  gaussianChanceToWin,
  betaBinomialChanceToWin,
  normalPartialExpectation,
  type ChanceToWin,
  type GaussianChanceOptions,
} from './bayesian.js';
export { sampleRatioMismatch, DEFAULT_SRM_THRESHOLD, type SrmResult } from './srm.js';
export { compareArms, type ArmComparison, type ComparisonOptions } from './compare-arms.js';
export { decideExperiment, type ExperimentDecision, type ExperimentDecisionInput } from './experiment-decision.js';
