/**
 * Public surface of the pure statistical core (no I/O). Activities import from here.
 * stats/hwe.ts and stats/pca.ts are maintained separately and imported directly.
 */
export { type BurdenMode, type BurdenScore, burdenScore } from './burden.js';
export { type ClumpOptions, distanceClump, type LeadLoci } from './clump.js';
export {
  mlog10PChiSq,
  mlog10PChiSq1,
  mlog10PTwoSidedNormal,
  mlog10PTwoSidedT,
  pChiSq,
  pChiSq1,
  pTwoSidedNormal,
  pTwoSidedT,
  Z_975,
} from './distributions.js';
export {
  type Genotypes,
  type LinearModel,
  type LinearOptions,
  linearGwas,
  linearTestVariant,
  type MissingPolicy,
  prepareLinear,
} from './linear.js';
export {
  type LogisticModel,
  type LogisticOptions,
  logisticGwas,
  logisticTestVariant,
  prepareLogistic,
} from './logistic.js';
export {
  designMatrix,
  type FirthMode,
  firthFit,
  type LogisticFit,
  type LogisticFitOptions,
  logisticFit,
  logisticFitWithFallback,
} from './logistic-fit.js';
export {
  benjaminiHochberg,
  bonferroni,
  CHISQ1_MEDIAN,
  lambdaGcFromChiSq,
  lambdaGcFromP,
} from './multiple-testing.js';
export {
  type AssocColumns,
  allocAssocColumns,
  STATUS,
  STATUS_CODE,
  type Status,
  TEST,
  TEST_CODE,
  type TestName,
} from './status.js';
