export { checkInvariants, emptySweepStats, formatViolation } from './invariants.js';
export type { ExpectedRefs, InvariantOptions, SweepStats, Violation } from './invariants.js';
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
export { checkMemoryBlocks } from './memory-blocks-invariant.js';
export { machineState } from './state.js';
export type { MachineState } from './state.js';
