import { type OptSpec, UsageError, flag, formatUsage, str } from '../args.js';
import type { Command, CommandContext } from '../command.js';
import { drawLayout } from '../layout.js';
import { memmapCostCells, table } from '../output.js';
import { reportError, withMachine } from '../session.js';
import { humanBytes, memmapCost, memmapDevices, systemRamCosts } from '@daxsim/machine';
import { MEMORY_TIERS, kernelPlatform, modelledTime } from '@daxsim/mm';

const HELP: OptSpec = { long: 'help', short: 'h', help: 'show this help' };

async function dmesg(ctx: CommandContext): Promise<number> {
  try {
    const level = str(ctx.parsed.opts['level']);
    const max = level === undefined ? 7 : Number(level);
    if (!Number.isInteger(max) || max < 0 || max > 7) throw new UsageError(`--level ${level}: 0 (emerg) .. 7 (debug)`);
    const host = flag(ctx.parsed.opts['host-time']);
    return await withMachine(
      ctx,
      (m) => {
        const text = m.k.log.entries
          .filter((r) => r.level <= max)
          .map((r) => {
            const us = Math.round(r.time * 1e6);
            return `[${String(Math.floor(us / 1e6)).padStart(5)}.${String(us % 1e6).padStart(6, '0')}] ${host ? (r.hostText ?? r.text) : r.text}`;
          })
          .join('\n');
        if (text) ctx.out.out(text);
        return 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, formatUsage('daxsim dmesg [--level N]', DMESG_OPTS));
  }
}

async function stat(ctx: CommandContext): Promise<number> {
  try {
    return await withMachine(
      ctx,
      (m) => {
        const devices = memmapDevices(m).map((d) => ({ device: d.name, ...memmapCost(m, d) }));
        const systemRam = systemRamCosts(m);
        const counters = m.k.counters.snapshot();
        const buddy = { free_frames: m.k.buddy.nrFreePages(), materialised_frames: m.k.mem.materialisedFrames };
        // the modelled kernel time of every event counted since boot, on the machine's platform (@daxsim/mm cost.ts)
        const platform = kernelPlatform(m.k);
        const t = modelledTime(platform, m.k.counters.v);
        const ms = (ns: number) => Math.round(ns / 1e3) / 1e3;
        const modelled = {
          platform: platform.name,
          ms: ms(t.ns),
          bound: t.bound,
          cpu_ms: ms(t.cpuNs),
          media_ms: Object.fromEntries(MEMORY_TIERS.map((tier, i) => [tier, ms(t.mediaNs[i]!)])),
        };
        if (flag(ctx.parsed.opts['json'])) {
          ctx.out.out(JSON.stringify({ devices, ...(systemRam.length ? { system_ram: systemRam } : {}), counters, buddy, modelled_time: modelled }, null, 2));
          return 0;
        }
        if (devices.length) {
          ctx.out.out(
            table([
              ['device', 'size', 'align', 'map', 'generation', 'vmemmap data', 'vmemmap tables', 'on device', 'struct pages written'],
              ...devices.map((d) => [
                d.device,
                humanBytes(d.size),
                humanBytes(d.align),
                d.map,
                d.generation,
                ...memmapCostCells(d),
              ]),
            ]),
          );
          ctx.out.out('');
        }
        if (systemRam.length) {
          ctx.out.out(
            table([
              ['device (system-ram)', 'size', 'block size', 'memmap on memory', 'vmemmap data', 'vmemmap tables', 'on device', 'struct pages written', 'online blocks'],
              ...systemRam.map((d) => [
                d.device,
                humanBytes(d.size),
                humanBytes(d.block_size),
                d.memmap_on_memory ? 'yes' : 'no',
                humanBytes(d.vmemmap_data_bytes),
                humanBytes(d.vmemmap_pagetable_bytes),
                humanBytes(d.device_reserved_bytes),
                d.struct_pages_initialised,
                `${d.online_memblocks}/${d.total_memblocks}`,
              ]),
            ]),
          );
          ctx.out.out('');
        }
        ctx.out.out(table([['counter', 'value'], ...Object.entries(counters).filter(([, v]) => v !== 0).map(([k, v]) => [k, v])]));
        ctx.out.out(`\nfree RAM frames: ${buddy.free_frames}, materialised frames: ${buddy.materialised_frames}`);
        ctx.out.out(
          `modelled kernel time of the events counted since boot on ${platform.name}: ${modelled.ms} ms, bound by ${t.bound} (core ${modelled.cpu_ms} ms; media ${MEMORY_TIERS.map((tier) => `${tier} ${modelled.media_ms[tier]} ms`).join(', ')})`,
        );
        return 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e);
  }
}

async function layout(ctx: CommandContext): Promise<number> {
  try {
    const name = ctx.parsed.positionals[0];
    if (!name || ctx.parsed.positionals.length > 1) throw new UsageError('specify one device: daxsim layout daxX.Y');
    const idx = str(ctx.parsed.opts['page']);
    const page = idx === undefined ? 0 : Number(idx);
    if (!Number.isInteger(page) || page < 0) throw new UsageError(`--page ${idx}: a compound page index`);
    return await withMachine(
      ctx,
      (m) => {
        ctx.out.out(drawLayout(m, name, page));
        return 0;
      },
      { readOnly: true },
    );
  } catch (e) {
    return reportError(ctx, e, formatUsage('daxsim layout <daxX.Y> [--page N]', LAYOUT_OPTS));
  }
}

const DMESG_OPTS: OptSpec[] = [
  { long: 'level', short: 'l', arg: 'N', help: 'show records up to this level (0-7)' },
  { long: 'host-time', help: "lines that print a duration (memmap_init_zone_device) with the host's JavaScript time instead of the modelled kernel's" },
  HELP,
];
const STAT_OPTS: OptSpec[] = [{ long: 'json', help: 'JSON: per-device memmap cost and every counter' }, HELP];
const LAYOUT_OPTS: OptSpec[] = [{ long: 'page', arg: 'N', help: 'which compound page of the device to draw (default 0)' }, HELP];

export const infoCommands: Command[] = [
  { path: ['dmesg'], synopsis: 'daxsim dmesg [--level N] [--host-time]', summary: 'the kernel log', options: DMESG_OPTS, run: dmesg },
  { path: ['stat'], synopsis: 'daxsim stat [--json]', summary: 'memmap cost per device, the event counters and their modelled kernel time', options: STAT_OPTS, run: stat },
  { path: ['layout'], synopsis: 'daxsim layout <daxX.Y> [--page N]', summary: "draw a device's vmemmap: virtual pages to frames", options: LAYOUT_OPTS, run: layout },
];
