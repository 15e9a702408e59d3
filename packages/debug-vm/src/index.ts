export { checkInvariants, formatViolation } from './invariants.js';
export type { ExpectedRefs, InvariantOptions, Violation } from './invariants.js';
export {
  DAXSIM_FAIL_ENV,
  FAIL_POINTS,
  armFailures,
  armFromEnv,
  disarmFailures,
  formatFailSpec,
  parseFailSpec,
  pendingFailures,
} from './fault-inject.js';
export type { FailPoint, FailSpec, FailTarget } from './fault-inject.js';
export { machineState } from './state.js';
export type { MachineState } from './state.js';
export { DYN_REGION, FUZZ_LAYOUT, FUZZ_PROLOGUE, FuzzModel, bootFuzzMachine, diffState, fmtSize, formatOp, formatScenario, scenarioPreamble } from './fuzz-machine.js';
export type { FuzzMachine, FuzzOp, StepResult } from './fuzz-machine.js';
export { resolveOp, runFuzzSequence } from './fuzz.js';
export type { FuzzRunOptions, FuzzRunResult, OpSpec } from './fuzz.js';
