import type { BuildPhase } from './engine.js';
import type { Op, Reply, Request, Requests } from './protocol.js';

/** A refusal from the model: the kernel's errno and its message. */
export class ModelError extends Error {
  constructor(
    readonly errno: number,
    readonly errnoName: string,
    message: string,
  ) {
    super(message);
    this.name = 'ModelError';
  }
}

/** The page's side of the worker: one promise per request, progress as it comes. */
export class ModelClient {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; progress?: (p: BuildPhase) => void }>();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
    this.worker.onmessage = (e: MessageEvent<Reply>) => {
      const r = e.data;
      const p = this.pending.get(r.id);
      if (!p) return;
      if ('progress' in r) p.progress?.(r.progress);
      else {
        this.pending.delete(r.id);
        if ('ok' in r) p.resolve(r.ok);
        else p.reject(new ModelError(r.error.errno, r.error.name, r.error.message));
      }
    };
    this.worker.onerror = (e) => {
      for (const p of this.pending.values()) p.reject(new Error(`worker: ${e.message}`));
      this.pending.clear();
    };
  }

  call<K extends Op>(op: K, args: Requests[K]['args'], progress?: (p: BuildPhase) => void): Promise<Requests[K]['result']> {
    const id = this.nextId++;
    const req: Request<K> = { id, op, args };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, ...(progress ? { progress } : {}) });
      this.worker.postMessage(req);
    });
  }
}
