import {
  C,
  EBUSY,
  EEXIST,
  EINVAL,
  ENOMEM,
  ENXIO,
  KERN_DEBUG,
  KERN_INFO,
  KERN_WARNING,
  KernelError,
  MEMORY_DEVICE_GENERIC,
  PE_SIZE_PMD,
  PE_SIZE_PTE,
  PE_SIZE_PUD,
  VM_FAULT_FALLBACK,
  VM_FAULT_NOPAGE,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_MAYSHARE,
  VM_WRITE,
  type VmFault,
  type VmOperations,
  type Vma,
  _PAGE_DEVMAP_HI,
  _PAGE_SPECIAL,
  FAULT_MODELS,
  folioAddFileRmapEntire,
  folioAddFileRmapPte,
  _PAGE_PRESENT,
  _PAGE_PSE,
  _PAGE_RW,
  _PAGE_USER,
  entryPresent,
  hex,
  type ArchProfile,
  type DaxFaultDbgFormat,
  mkEntryHi,
  mkEntryLo,
  unmapMappingRange,
} from '@daxsim/mm';
import type { DevDax } from './dev-dax.js';
import { checkPgmapIdle, makeDevPagemap, memmapShift, memremapPages, memunmapPages } from './pagemap.js';

// ---------------------------------------------------------------- probe / kill

/**
 * Binds device_dax to the device: dax_bus_probe() then dev_dax_probe().
 * Builds (dynamic) or takes (static) the dev_pagemap, sets its vmemmap shift
 * from the align, memremap_pages(), and makes the dax_device alive. Throws
 * KernelError; a refused probe leaves the machine as it was.
 */
export function bindDevDax(dev: DevDax): void {
  const region = dev.region;
  if (!dev.registered) throw new KernelError(ENXIO, `${dev.name}: bind: device was deleted`);
  if (dev.bound) throw new KernelError(EBUSY, `${dev.name}: bind: already bound to device_dax`);
  // dax_bus_probe()
  if (dev.size === 0 || dev.id < 0) throw new KernelError(ENXIO, `${dev.name}: bind: device has size 0 (set a size first)`);
  devDaxProbe(dev);
  dev.bound = true;
  if (!region.isStatic && region.seed === dev) region.seed = null;
}

/** dev_dax_probe() (drivers/dax/device.c, with seed patches 6 and 7) */
function devDaxProbe(dev: DevDax): void {
  const region = dev.region;
  const k = region.k;
  let pgmap;
  if (region.isStatic) {
    if (dev.ranges.length > 1) {
      dev.log(KERN_WARNING, 'static pgmap / multi-range device conflict');
      throw new KernelError(EINVAL, `${dev.name}: probe: static pgmap / multi-range device conflict (${dev.ranges.length} ranges)`);
    }
    pgmap = dev.pgmap!;
  } else {
    if (dev.pgmap) {
      dev.log(KERN_WARNING, 'dynamic-dax with pre-populated page map');
      throw new KernelError(EINVAL, `${dev.name}: probe: dynamic-dax with pre-populated page map`);
    }
    pgmap = makeDevPagemap(region.bus, {
      ranges: dev.ranges.map((r) => ({ start: r.start, end: r.end })),
      name: dev.name,
    });
  }
  const saved = { type: pgmap.type, vmemmapShift: pgmap.vmemmapShift, owner: pgmap.owner };
  pgmap.type = MEMORY_DEVICE_GENERIC;
  // seed patch 7 (as merged: vmemmap_shift = order_base_2(align >> PAGE_SHIFT))
  pgmap.vmemmapShift = dev.align > k.arch.pageSize ? Math.log2(dev.align / k.arch.pageSize) : 0;
  pgmap.owner = dev;
  dev.pgmap = pgmap; // seed patch 6: valid for dynamic devices too
  try {
    memremapPages(region.bus, pgmap, region.targetNode);
  } catch (e) {
    // devm frees a dynamic pgmap when probe fails; the model also forgets it
    // (the kernel leaves dev_dax->pgmap dangling until the next kill).
    if (!region.isStatic) dev.pgmap = null;
    else Object.assign(pgmap, saved); // a failed probe leaves the namespace's pgmap as it was
    throw e;
  }
  dev.alive = true; // run_dax()
}

/**
 * kill_dev_dax(): the dax_device dies (later faults and mmaps get -ENXIO),
 * every user mapping of the device is zapped, and a dynamic device forgets
 * its pgmap (seed patch 6) so the next probe builds a fresh one.
 */
export function killDevDax(dev: DevDax): void {
  dev.alive = false; // kill_dax()
  unmapMappingRange(dev.mapping, 0, 0);
  if (!dev.region.isStatic) dev.pgmap = null;
}

/**
 * Unbinds device_dax (dax_bus_remove()): the devm actions run in reverse,
 * dev_dax_kill() first, then memunmap_pages() of the pgmap probe set up.
 */
export function unbindDevDax(dev: DevDax): void {
  if (!dev.bound) throw new KernelError(ENXIO, `${dev.name}: unbind: not bound to device_dax`);
  const pgmap = dev.pgmap!;
  checkPgmapIdle(dev.region.bus, pgmap, `${dev.name}: unbind`);
  killDevDax(dev);
  memunmapPages(dev.region.bus, pgmap);
  dev.bound = false;
}

// ---------------------------------------------------------------- mmap checks

/**
 * check_vma() (the 6.x __check_vma form, on flags and bounds): 0, -ENXIO for
 * a dead device, -EINVAL for a private or misaligned mapping.
 */
export function checkVma(dev: DevDax, vmFlags: number, start: number, end: number, comm: string, func: string): number {
  if (!dev.alive) return -ENXIO;
  if ((vmFlags & VM_MAYSHARE) !== VM_MAYSHARE) {
    dev.log(KERN_INFO, `${comm}: ${func}: fail, attempted private mapping`);
    return -EINVAL;
  }
  const mask = dev.align - 1;
  if (start % dev.align || end % dev.align) {
    dev.log(KERN_INFO, `${comm}: ${func}: fail, unaligned vma (${hex(start)} - ${hex(end)}, ${hex(mask)})`);
    return -EINVAL;
  }
  return 0;
}

function vmaComm(vma: Vma): string {
  return vma.mm.owner?.comm ?? '?';
}

// ---------------------------------------------------------------- faults

/** dax_pgoff_to_phys(): the physical address of file page `pgoff`, -1 if it is outside the device or straddles two ranges. */
export function daxPgoffToPhys(dev: DevDax, pgoff: number, size: number): number {
  const ps = dev.region.k.arch.pageSize;
  for (const r of dev.ranges) {
    const pages = (r.end - r.start + 1) / ps;
    if (pgoff < r.pgoff || pgoff > r.pgoff + pages - 1) continue;
    const phys = (pgoff - r.pgoff) * ps + r.start;
    if (phys + size - 1 <= r.end) return phys;
    break;
  }
  return -1;
}

/**
 * dax_set_mapping() (seed patch 7 as merged): page->mapping and page->index
 * for the pages a fault maps: only the head when the memmap is compound,
 * every base page otherwise. The index is the file offset of the fault
 * address rounded to the fault size: DOWN since the 2024 fix, UP (ALIGN) with
 * the seed's patch 5 (bus option setMappingIndex: 'align-up').
 */
export function daxSetMapping(dev: DevDax, vmf: VmFault, pfn: number, faultSize: number): void {
  const k = dev.region.k;
  const memmap = k.memmap;
  const pgmap = dev.pgmap!;
  let nrPages = faultSize / k.arch.pageSize;
  // With compound pages the mapping is only set on the head. Under the
  // 'pre-series' generation the memmap is base pages whatever the shift says,
  // and the kernel of that time set every page (the 5.15 loop).
  if (memmapShift(dev.region.bus, pgmap)) nrPages = 1;
  const a = vmf.address;
  const aligned =
    dev.region.bus.setMappingIndex === 'align-down' ? a - (a % faultSize) : Math.ceil(a / faultSize) * faultSize;
  const pgoff = vmf.vma.pgoffOf(aligned);
  for (let i = 0; i < nrPages; i++) {
    const head = memmap.compoundHead(pfn + i);
    const [lo, hi] = memmap.pageMappingRaw(head);
    if (lo !== 0 || hi !== 0) continue;
    memmap.setPageMapping(head, dev.mapping);
    memmap.setPageIndex(head, pgoff + i);
  }
}

/**
 * Installs the leaf of the level's size at `addr` in the vma's page tables
 * that maps `pfn`, as the release's fault model does:
 * - `pfn` (before v6.15): insert_pfn() / insert_pfn_pmd() / insert_pfn_pud()
 *   with a devmap entry (pte/pmd_mkdevmap) while the kernel has the devmap
 *   bit, a special one (pmd_mkspecial) after; no page reference, no rmap;
 * - `folio` (aed877c2b425, v6.15): vmf_insert_folio_pmd() /
 *   vmf_insert_folio_pud() / vmf_insert_page_mkwrite() → insert_pmd() /
 *   insert_pud() / insert_page(): folio_get(), folio_add_file_rmap_pmd/pud/pte()
 *   and add_mm_counter(MM_FILEPAGES), then a plain leaf (no devmap bit: 7.3
 *   has none since d438d2734170).
 * An entry already there is left alone (the kernel's racing-fault case),
 * taking nothing. Tables come from the mm's allocator (k.frames,
 * 'user_pagetable').
 */
function insertLeaf(dev: DevDax, vma: Vma, addr: number, pfn: number, level: number): number {
  const k = dev.region.k;
  const pt = vma.mm.pgd;
  const size = pt.levelSize(level);
  const va = addr - (addr % size);
  const table = pt.populate(va, level);
  if (table === -ENOMEM) return VM_FAULT_OOM;
  if (table === -EEXIST) return VM_FAULT_NOPAGE;
  const idx = pt.wIndex;
  if (entryPresent(pt.lo(table, idx))) return VM_FAULT_NOPAGE;
  const shift = pt.arch.pageShift;
  const pte = level === pt.nrLevels - 1;
  let lo = _PAGE_PRESENT | _PAGE_USER;
  let hi = 0;
  if (vma.flags & VM_WRITE) lo |= _PAGE_RW;
  if (!pte) lo |= _PAGE_PSE;
  if (FAULT_MODELS[k.release.fault].refcounted) {
    const memmap = k.memmap;
    const head = memmap.compoundHead(pfn);
    memmap.pageRefAdd(head, 1); // folio_get()
    if (pte && !memmap.PageHead(head)) folioAddFileRmapPte(memmap, pfn);
    else folioAddFileRmapEntire(memmap, head, vma.mm);
    vma.mm.rssFile += size / pt.arch.pageSize;
  } else if (k.release.devmapBit) hi = _PAGE_DEVMAP_HI;
  else lo |= _PAGE_SPECIAL;
  pt.setEntry(table, idx, mkEntryLo(pfn, shift, lo), mkEntryHi(pfn, shift, hi), va, level);
  return VM_FAULT_NOPAGE;
}

/** The checks every handler makes once it has a physical address: a poisoned unit is SIGBUS. */
function mapDevicePfn(dev: DevDax, vmf: VmFault, phys: number, faultSize: number, level: number, pgoff: number): number {
  const k = dev.region.k;
  if (phys < 0) {
    dev.log(KERN_DEBUG, `pgoff_to_phys(${hex(pgoff)}) failed`);
    return VM_FAULT_SIGBUS;
  }
  if (phys % faultSize) {
    // Not reachable with aligned regions; a misaligned huge leaf would map the wrong bytes.
    dev.log(KERN_DEBUG, `phys ${hex(phys)} not aligned to fault size ${hex(faultSize)}`);
    return VM_FAULT_SIGBUS;
  }
  const pfn = phys / k.arch.pageSize;
  // drivers/dax/device.c never looks at PG_hwpoison: a poisoned folio faults back in whole, in every
  // process (measured on 6.1 and 7.3, shared/real-kernel/poison-ref); a bad media location raises its
  // machine check when a load consumes it (user-access.ts), not here.
  // The kernel calls dax_set_mapping() just before vmf_insert_*(); the model
  // calls it once the insert succeeded, so a fault that fails on a page-table
  // allocation (VM_FAULT_OOM) leaves no page->mapping behind. Single-threaded,
  // nothing can observe the order otherwise.
  const rc = insertLeaf(dev, vmf.vma, vmf.address, pfn, level);
  if (rc === VM_FAULT_NOPAGE) daxSetMapping(dev, vmf, pfn, faultSize);
  return rc;
}

/** __dev_dax_pte_fault() */
function devDaxPteFault(dev: DevDax, vmf: VmFault): number {
  const k = dev.region.k;
  const ps = k.arch.pageSize;
  const vma = vmf.vma;
  if (checkVma(dev, vma.flags, vma.start, vma.end, vmaComm(vma), '__dev_dax_pte_fault')) return VM_FAULT_SIGBUS;
  if (dev.align > ps) {
    dev.log(KERN_DEBUG, `alignment (${hex(dev.align)}) > fault size (${hex(ps)})`);
    return VM_FAULT_SIGBUS;
  }
  const phys = daxPgoffToPhys(dev, vmf.pgoff, ps);
  return mapDevicePfn(dev, vmf, phys, ps, k.arch.pteLevel, vmf.pgoff);
}

/** __dev_dax_pmd_fault() and __dev_dax_pud_fault(): the same checks at PMD_SIZE or PUD_SIZE. */
function devDaxHugeLevelFault(dev: DevDax, vmf: VmFault, faultSize: number, level: number, func: string): number {
  const vma = vmf.vma;
  if (checkVma(dev, vma.flags, vma.start, vma.end, vmaComm(vma), func)) return VM_FAULT_SIGBUS;
  if (dev.align > faultSize) {
    dev.log(KERN_DEBUG, `alignment (${hex(dev.align)}) > fault size (${hex(faultSize)})`);
    return VM_FAULT_SIGBUS;
  }
  if (faultSize > dev.align) return VM_FAULT_FALLBACK;
  const addr = vmf.address - (vmf.address % faultSize);
  if (addr < vma.start || addr + faultSize > vma.end) return VM_FAULT_SIGBUS;
  const pgoff = vma.pgoffOf(addr);
  const phys = daxPgoffToPhys(dev, pgoff, faultSize);
  return mapDevicePfn(dev, vmf, phys, faultSize, level, pgoff);
}

/**
 * dev_dax_huge_fault()'s dev_dbg() line in the format of the release
 * (KlogSpec.daxFaultDbg): the enum page_entry_size before 1d024e7a8dab
 * (v6.6), the order and the VMA after it, the order and the fault address
 * aligned to it after Peter Xu's "mm/dax: dump start address in fault handler".
 */
export function devDaxFaultDbg(
  format: DaxFaultDbgFormat,
  comm: string,
  op: 'read' | 'write',
  vmStart: number,
  vmEnd: number,
  address: number,
  peSize: number,
  arch: ArchProfile,
): string {
  if (format === 'pe-size') return `${comm}: ${op} (${hex(vmStart)} - ${hex(vmEnd)}) size = ${peSize}`;
  // the order the handler is called with: 0, PMD_ORDER or PUD_ORDER
  // (PUD_SHIFT where the pud is folded is the level above the pmd's)
  const order = peSize === PE_SIZE_PTE ? 0 : (peSize === PE_SIZE_PMD ? arch.pmdShift : arch.pudShift || arch.levels[arch.pmdLevel - 1]!.shift) - arch.pageShift;
  if (format === 'order') return `${comm}: ${op} (${hex(vmStart)} - ${hex(vmEnd)}) order:${order}`;
  const size = 2 ** (order + arch.pageShift);
  return `${comm}: op=${op} addr=${hex(address - (address % size))} order=${order}`;
}

/** dev_dax_huge_fault(): one handler per entry size; the caller falls back on VM_FAULT_FALLBACK. */
export function devDaxHugeFault(vmf: VmFault, peSize: number): number {
  const dev = vmf.vma.file!.privateData as DevDax;
  const k = dev.region.k;
  const arch = k.arch;
  const vma = vmf.vma;
  dev.log(KERN_DEBUG, devDaxFaultDbg(k.release.klog.daxFaultDbg, vmaComm(vma), vmf.flags & 1 ? 'write' : 'read', vma.start, vma.end, vmf.address, peSize, arch));
  let rc: number;
  let counter: number;
  switch (peSize) {
    case PE_SIZE_PTE:
      rc = devDaxPteFault(dev, vmf);
      counter = C.fault_pte;
      break;
    case PE_SIZE_PMD:
      rc = devDaxHugeLevelFault(dev, vmf, 2 ** arch.pmdShift, arch.pmdLevel, '__dev_dax_pmd_fault');
      counter = C.fault_pmd;
      break;
    case PE_SIZE_PUD:
      // Without CONFIG_HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD the handler is a stub that falls back.
      if (arch.pudLevel < 0 || !arch.devdaxAligns.includes(2 ** arch.pudShift)) rc = VM_FAULT_FALLBACK;
      else rc = devDaxHugeLevelFault(dev, vmf, 2 ** arch.pudShift, arch.pudLevel, '__dev_dax_pud_fault');
      counter = C.fault_pud;
      break;
    default:
      rc = VM_FAULT_SIGBUS;
      counter = -1;
  }
  const v = k.counters.v;
  if (rc === VM_FAULT_NOPAGE && counter >= 0) v[counter]++;
  else if (rc & VM_FAULT_FALLBACK) v[C.fault_fallback]++;
  else if (rc & VM_FAULT_SIGBUS) v[C.fault_sigbus]++;
  return rc;
}

/** dev_dax_fault(): the base-page fault is the PTE case of the huge handler. */
export function devDaxFault(vmf: VmFault): number {
  return devDaxHugeFault(vmf, PE_SIZE_PTE);
}

/** dax_vm_ops */
export const daxVmOps: VmOperations = Object.freeze({
  name: 'dax_vm_ops',
  fault: devDaxFault,
  hugeFault: devDaxHugeFault,
});
