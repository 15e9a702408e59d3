// Model-based fuzzing, part 1 of 2 (split so the two halves run on two workers).
import { FUZZ_OPS, fuzzGeneration } from './test/fuzz-suite.js';

fuzzGeneration('tail-reuse', 0, Math.ceil(FUZZ_OPS / 4));
fuzzGeneration('pre-series', 1, Math.ceil(FUZZ_OPS / 4));
