import type { VmemmapLayout } from '@daxsim/machine';
import type { BuildPhase, DeviceReport, DeviceSpec, FaultStep, PinStep, PlanRow, PoisonStep } from './engine.js';
import type { StructPageView } from '@daxsim/machine';

/** What the page asks the worker, and what each request answers. */
export interface Requests {
  plan: { args: { size: number; arches: readonly string[] }; result: PlanRow[] };
  planCurve: { args: { sizes: readonly number[]; arch: string; map: 'mem' | 'dev' }; result: { size: number; rows: PlanRow[] }[] };
  build: { args: DeviceSpec; result: DeviceReport };
  layout: { args: { page: number }; result: VmemmapLayout };
  inspect: { args: { pfn: number }; result: { page: StructPageView; head: StructPageView | null; tail1: StructPageView | null; tail2: StructPageView | null } };
  fault: { args: { offset: number }; result: FaultStep };
  pin: { args: { offset: number; pages: number }; result: PinStep };
  poison: { args: { offset: number }; result: PoisonStep };
}
export type Op = keyof Requests;

export interface Request<K extends Op = Op> {
  readonly id: number;
  readonly op: K;
  readonly args: Requests[K]['args'];
}

export type Reply =
  | { readonly id: number; readonly progress: BuildPhase }
  | { readonly id: number; readonly ok: unknown }
  | { readonly id: number; readonly error: { readonly errno: number; readonly name: string; readonly message: string } };
