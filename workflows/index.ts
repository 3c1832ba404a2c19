/** Every workflow type the worker serves on the `biobank` task queue. */
export { engineSelfTest } from './selftest.js';
