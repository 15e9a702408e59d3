import { KernelError, errnoName } from '@daxsim/mm';
import { Engine, planRows } from './engine.js';
import type { Reply, Request, Requests } from './protocol.js';

// The model lives here, off the page's thread: building a large device's
// memmap takes seconds, and the page must keep drawing meanwhile.
const engine = new Engine();
const post = (r: Reply) => (self as unknown as { postMessage(message: Reply): void }).postMessage(r);

function run(req: Request, progress: Parameters<Engine['build']>[1]): unknown {
  switch (req.op) {
    case 'plan': {
      const a = req.args as Requests['plan']['args'];
      return planRows(a.size, a.arches);
    }
    case 'planCurve': {
      const a = req.args as Requests['planCurve']['args'];
      return a.sizes.map((size) => ({ size, rows: planRows(size, [a.arch]).filter((r) => r.map === a.map) }));
    }
    case 'build':
      return engine.build(req.args as Requests['build']['args'], progress);
    case 'layout':
      return engine.layout((req.args as Requests['layout']['args']).page);
    case 'inspect':
      return engine.inspect((req.args as Requests['inspect']['args']).pfn);
    case 'fault':
      return engine.fault((req.args as Requests['fault']['args']).offset);
    case 'pin': {
      const a = req.args as Requests['pin']['args'];
      return engine.pin(a.offset, a.pages);
    }
    case 'poison':
      return engine.poison((req.args as Requests['poison']['args']).offset);
  }
}

self.onmessage = (e: MessageEvent<Request>) => {
  const req = e.data;
  try {
    post({ id: req.id, ok: run(req, (progress) => post({ id: req.id, progress })) });
  } catch (err) {
    if (err instanceof KernelError) post({ id: req.id, error: { errno: err.errno, name: errnoName(err.errno), message: err.message } });
    else post({ id: req.id, error: { errno: 0, name: 'Error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) } });
  }
};
