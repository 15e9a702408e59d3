// Model-based fuzzing of the proposed shared-tail generation (its own worker, a quarter of the budget like the others).
import { FUZZ_OPS, fuzzGeneration } from './test/fuzz-suite.js';

fuzzGeneration('shared-tail', 4, Math.ceil(FUZZ_OPS / 4));
