export { DEV_BASE, machineState, testDaxDevice, testKernel } from './kernel.js';
export { TEST_DEV_BASE, testPagemap } from '@daxsim/memremap/test';
