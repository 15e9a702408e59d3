// Model-based fuzzing, part 2 of 2.
import { FUZZ_OPS, fuzzGeneration } from './test/fuzz-suite.js';

fuzzGeneration('tail-reuse-pmd', 2, Math.ceil(FUZZ_OPS / 4));
fuzzGeneration('compound', 3, Math.ceil(FUZZ_OPS / 4));
