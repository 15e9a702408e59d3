export { DEFAULT_CONFIG, DEFAULT_CPU_LA57, MACHINE_TYPES, describeKernelChoice, kernelChoice, layoutMachine, machineTypeOf, qemuBelow4g } from './config.js';
export type { KernelChoice, MachineConfig, MachineLayout, MachineType, PhysRange, PmemConfig } from './config.js';
export { Machine } from './machine.js';
export type { CxlIomemResource } from './machine.js';
export { OP_NAMES } from './ops.js';
export type { Op, OpName } from './ops.js';
export { STATE_FORMAT, STATE_VERSION, STATE_VERSIONS_READ, StateFormatError, upgradeState } from './state.js';
export type { Checkpoint, MachineState } from './state.js';
export { NamespaceBusyError, NdctlError, ndctlCreateNamespace, ndctlDestroyNamespace, ndctlDisableNamespace, ndctlEnableNamespace, ndctlNamespaces } from './ndctl.js';
export type { CreateNamespaceRequest } from './ndctl.js';
export {
  daxRegions,
  daxctlCreateDevice,
  daxctlDestroyDevice,
  daxctlDevices,
  daxctlDisableDevice,
  daxctlEnableDevice,
  daxctlReconfigureDevice,
  sysfsWrite,
} from './daxctl.js';
export type { CreateDeviceHooks, CreateDeviceRequest, CreateDeviceResult, DeviceMapping } from './daxctl.js';
export { daxctlMemoryInfo, daxctlOfflineMemory, daxctlOnlineMemory, daxctlReconfigureMode } from './daxctl-memory.js';
export type { DaxctlMemoryInfo, DaxctlMemoryResult, ReconfigureModeRequest } from './daxctl-memory.js';
export { deviceOfFile, runGupTest } from './gup-test.js';
export { memmapCost, memmapDevices } from './memmap-cost.js';
export { systemRamCosts } from './system-ram-cost.js';
export { planSystemRam } from './plan-system-ram.js';
export type { SystemRamPlan, SystemRamPlanInput } from './plan-system-ram.js';
export type { SystemRamCost, SystemRamMemmap } from './system-ram-cost.js';
export type { MemmapCost } from './memmap-cost.js';
export { planMemmap } from './planner.js';
export { type HostMemoryNeed, checkHostMemory, hostMemoryNeed } from './host-memory.js';
export type { PlanInput } from './planner.js';
export { ScenarioSession, ScenarioSyntaxError, TOOL_WORDS, runOp, runScenario } from './scenario.js';
export { formatScenarioOp, formatScenarioSize, parseScenarioLine, parseScenarioWords, scenarioWords } from './scenario-op.js';
export type { ScenarioOp } from './scenario-op.js';
export { SCENARIO_LINE_KINDS, SCENARIO_TOUR, formatScenarioLanguage } from './scenario-language.js';
export type { ScenarioLineKind } from './scenario-language.js';
export type { LineOutcome, PinRequest, ScenarioOptions, ScenarioProcess, ScenarioResult, ScenarioSignal, ToolResult, ToolRunner } from './scenario.js';
export { displaySize, humanBytes, parseSize } from './size.js';
export { type VmemmapLayout, type VmemmapPageView, vmemmapLayout } from './vmemmap-layout.js';
export { iomemTree, nrMemmapPages, procIomem, procMeminfo, procVmstat, procZoneinfo, totalramPages } from './procfs.js';
export type { IomemResource } from './procfs.js';
export { ndDimms, regionSetCookie, sysfsRoot } from './sysfs.js';
export type { NdDimm } from './sysfs.js';
export { catPath, lsPath, machineFs } from './views.js';
export { lookup, listDir, pathParts, readFile } from './vfs.js';
export type { DirEntry, VDir, VFile, VLink, VNode } from './vfs.js';
export { ZONE_NAMES, bootZones, nodeZones, zoneViews } from './zones.js';
export type { BootZone, PfnRange, ZoneView } from './zones.js';
export { decodeStructPage } from './struct-page-view.js';
export type { StructPageView } from './struct-page-view.js';
export { dumpPage, pageDumpJson, pfnValid, resolvePageSpec } from './dump-page.js';
export type { FolioDump, PageDump, PageSpec } from './dump-page.js';
