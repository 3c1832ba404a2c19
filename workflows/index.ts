/** Every workflow type the worker serves on the `biobank` task queue. */

export { genotypeFirstStudy } from './genotype-first.js';
export { ingestRelease } from './ingest-release.js';
export { metaAnalysis } from './meta.js';
export { phenotypeFirstStudy } from './phenotype-first.js';
export { refreshOnRelease } from './refresh.js';
export { engineSelfTest } from './selftest.js';
