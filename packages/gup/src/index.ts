export {
  FOLL_ANON,
  FOLL_COW,
  FOLL_DUMP,
  FOLL_FAST_ONLY,
  FOLL_FAST_VALID,
  FOLL_FORCE,
  FOLL_GET,
  FOLL_HWPOISON,
  FOLL_LONGTERM,
  FOLL_MIGRATION,
  FOLL_MLOCK,
  FOLL_NOWAIT,
  FOLL_NUMA,
  FOLL_PIN,
  FOLL_POPULATE,
  FOLL_REMOTE,
  FOLL_SPLIT_PMD,
  FOLL_TOUCH,
  FOLL_TRIED,
  FOLL_WRITE,
  GUP_PIN_COUNTING_BIAS,
} from './foll.js';
export { DEFAULT_GUP_GENERATION, GUP_GENERATIONS, Gup, isGupGeneration } from './gup.js';
export type { GupGeneration, GupOptions } from './gup.js';
export { gupDeviceHuge, recordSubpages, undoDevPagemap } from './device-huge.js';
export { getUserPagesFast, getUserPagesFastOnly, internalGetUserPagesFast, pinUserPagesFast, pinUserPagesFastOnly } from './gup-fast.js';
export {
  checkVmaFlags,
  followPageMask,
  getUserPages,
  getUserPagesUnlocked,
  gupLongtermLocked,
  gupLongtermUnlocked,
  pinUserPages,
  vmFaultToErrno,
} from './gup-slow.js';
export { putPage, putPages, unpinUserPage, unpinUserPageRangeDirtyLock, unpinUserPages, unpinUserPagesDirtyLock } from './unpin.js';
export {
  DUMP_USER_PAGES_TEST,
  GUP_BASIC_TEST,
  GUP_FAST_BENCHMARK,
  GUP_TEST_FLAG_DUMP_PAGES_USE_PIN,
  GUP_TEST_MAX_PAGES_TO_DUMP,
  PIN_BASIC_TEST,
  PIN_FAST_BENCHMARK,
  PIN_LONGTERM_BENCHMARK,
  dumpPage,
  gupTestCmdName,
  gupTestIoctl,
  gupTestPins,
  newGupTestArgs,
  newGupTestStats,
} from './gup-test.js';
export type { GupTestArgs, GupTestStats } from './gup-test.js';
export {
  MAP_ANONYMOUS,
  MAP_HUGETLB,
  defaultGupTestOptions,
  gupTestMain,
  parseGupTestArgs,
  userTouch,
} from './gup-test-user.js';
export type { GupTestEnv, GupTestOptions, GupTestRepeat, GupTestResult } from './gup-test-user.js';
