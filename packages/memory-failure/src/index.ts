export {
  MF_ACTION_REQUIRED,
  MF_COUNT_INCREASED,
  MF_MUST_KILL,
  MF_SOFT_OFFLINE,
  MF_SW_SIMULATED,
  hwpoisonCorruptPfn,
  hwpoisonUnpoisonPfn,
  madviseHwpoison,
  mceKillPolicy,
  SIGKILL,
  memoryFailure,
  memoryFailureEarlyKill,
  prctlMceKill,
  setMemoryFailureEarlyKill,
  softOfflinePage,
} from './memory-failure.js';
export type { MceKillPolicy } from './memory-failure.js';
