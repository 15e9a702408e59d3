export { DYN_REGION, FUZZ_CONFIG, FUZZ_NAMESPACES, FUZZ_PROLOGUE, FuzzModel, bootFuzzMachine, diffState, fmtSize, formatOp, formatScenario, scenarioOp, scenarioPreamble } from './fuzz-machine.js';
export type { FuzzMachine, FuzzOp, StepResult } from './fuzz-machine.js';
export { resolveOp, runFuzzSequence } from './fuzz.js';
export type { FuzzRunOptions, FuzzRunResult, OpSpec } from './fuzz.js';
