/**
 * The pages array of a gup call (the kernel's `struct page **pages`, here a
 * Float64Array of pfns, one 8-byte entry per base page), the store that
 * record_subpages() makes into it (the n pfns page, page + 1, ...) and the
 * scan the held check and the release loops make for such runs.
 *
 * A JavaScript loop writes those at about one entry per nanosecond on the
 * developers' machine, half the speed the memory takes them at; a 16 GiB
 * gup_test get loop writes 4,194,304 of them, and its held check and release
 * loop read them back looking for runs of consecutive pfns. So an array made
 * by allocPageArray() lives in a WebAssembly.Memory, and the small module
 * below stores runs into it (`seq`: two pfns per 16-byte SIMD store, 64 bytes
 * per iteration) and measures runs in it (`run`: 64 bytes compared per
 * iteration) — the same values and answers as the JavaScript loops
 * (storePfnRunJs, pfnRunLengthJs), faster. Any other Float64Array, and any
 * runtime without WebAssembly (or its SIMD), gets the JavaScript loops.
 *
 * The module's text (wat); the bytes below are what wat2wasm (wabt 1.0.39,
 * with SIMD) makes of it:
 *
 * (module
 *   (import "e" "m" (memory 0))
 *   ;; seq(p, n, v): the n doubles v, v + 1, ..., v + n - 1 at byte offset p
 *   (func (export "seq") (param $p i32) (param $n i32) (param $v f64)
 *     (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $inc v128)
 *     ;; a0 = [v, v + 1], a1 = a0 + 2, a2 = a0 + 4, a3 = a0 + 6, inc = [8, 8]
 *     (local.set $a0 (f64x2.replace_lane 1 (f64x2.splat (local.get $v)) (f64.add (local.get $v) (f64.const 1))))
 *     (local.set $a1 (f64x2.add (local.get $a0) (f64x2.splat (f64.const 2))))
 *     (local.set $a2 (f64x2.add (local.get $a0) (f64x2.splat (f64.const 4))))
 *     (local.set $a3 (f64x2.add (local.get $a0) (f64x2.splat (f64.const 6))))
 *     (local.set $inc (f64x2.splat (f64.const 8)))
 *     ;; 8 entries (64 bytes) per iteration
 *     (block $vb
 *       (loop $vl
 *         (br_if $vb (i32.lt_u (local.get $n) (i32.const 8)))
 *         (v128.store offset=0 align=8 (local.get $p) (local.get $a0))
 *         (v128.store offset=16 align=8 (local.get $p) (local.get $a1))
 *         (v128.store offset=32 align=8 (local.get $p) (local.get $a2))
 *         (v128.store offset=48 align=8 (local.get $p) (local.get $a3))
 *         (local.set $a0 (f64x2.add (local.get $a0) (local.get $inc)))
 *         (local.set $a1 (f64x2.add (local.get $a1) (local.get $inc)))
 *         (local.set $a2 (f64x2.add (local.get $a2) (local.get $inc)))
 *         (local.set $a3 (f64x2.add (local.get $a3) (local.get $inc)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *         (local.set $n (i32.sub (local.get $n) (i32.const 8)))
 *         (br $vl)))
 *     ;; the last n < 8 one at a time, from lane 0 of a0
 *     (local.set $v (f64x2.extract_lane 0 (local.get $a0)))
 *     (block $sb
 *       (loop $sl
 *         (br_if $sb (i32.eqz (local.get $n)))
 *         (f64.store (local.get $p) (local.get $v))
 *         (local.set $v (f64.add (local.get $v) (f64.const 1)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 8)))
 *         (local.set $n (i32.sub (local.get $n) (i32.const 1)))
 *         (br $sl))))
 *   ;; run(p, n, v): how many of the n doubles at byte offset p read v, v + 1, ... before the first that does not
 *   (func (export "run") (param $p i32) (param $n i32) (param $v f64) (result i32)
 *     (local $k i32) (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $inc v128)
 *     (local.set $a0 (f64x2.replace_lane 1 (f64x2.splat (local.get $v)) (f64.add (local.get $v) (f64.const 1))))
 *     (local.set $a1 (f64x2.add (local.get $a0) (f64x2.splat (f64.const 2))))
 *     (local.set $a2 (f64x2.add (local.get $a0) (f64x2.splat (f64.const 4))))
 *     (local.set $a3 (f64x2.add (local.get $a0) (f64x2.splat (f64.const 6))))
 *     (local.set $inc (f64x2.splat (f64.const 8)))
 *     ;; 8 entries (64 bytes) per iteration while all 8 match
 *     (block $vb
 *       (loop $vl
 *         (br_if $vb (i32.gt_u (i32.add (local.get $k) (i32.const 8)) (local.get $n)))
 *         (br_if $vb (i32.eqz (i64x2.all_true
 *           (v128.and
 *             (v128.and
 *               (f64x2.eq (v128.load offset=0 align=8 (local.get $p)) (local.get $a0))
 *               (f64x2.eq (v128.load offset=16 align=8 (local.get $p)) (local.get $a1)))
 *             (v128.and
 *               (f64x2.eq (v128.load offset=32 align=8 (local.get $p)) (local.get $a2))
 *               (f64x2.eq (v128.load offset=48 align=8 (local.get $p)) (local.get $a3)))))))
 *         (local.set $a0 (f64x2.add (local.get $a0) (local.get $inc)))
 *         (local.set $a1 (f64x2.add (local.get $a1) (local.get $inc)))
 *         (local.set $a2 (f64x2.add (local.get $a2) (local.get $inc)))
 *         (local.set $a3 (f64x2.add (local.get $a3) (local.get $inc)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 64)))
 *         (local.set $k (i32.add (local.get $k) (i32.const 8)))
 *         (br $vl)))
 *     ;; then one at a time (fewer than 8 left, or a mismatch among the next 8)
 *     (local.set $v (f64x2.extract_lane 0 (local.get $a0)))
 *     (block $sb
 *       (loop $sl
 *         (br_if $sb (i32.ge_u (local.get $k) (local.get $n)))
 *         (br_if $sb (f64.ne (f64.load (local.get $p)) (local.get $v)))
 *         (local.set $v (f64.add (local.get $v) (f64.const 1)))
 *         (local.set $p (i32.add (local.get $p) (i32.const 8)))
 *         (local.set $k (i32.add (local.get $k) (i32.const 1)))
 *         (br $sl)))
 *     (local.get $k)))
 *
 * pfns are integers below 2^53, so every f64 add is exact.
 */
// prettier-ignore
const PAGE_ARRAY_WASM = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x02, 0x60, 0x03, 0x7f, 0x7f, 0x7c, 0x00, 0x60, 0x03, 0x7f,
  0x7f, 0x7c, 0x01, 0x7f, 0x02, 0x08, 0x01, 0x01, 0x65, 0x01, 0x6d, 0x02, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x01, 0x07,
  0x0d, 0x02, 0x03, 0x73, 0x65, 0x71, 0x00, 0x00, 0x03, 0x72, 0x75, 0x6e, 0x00, 0x01, 0x0a, 0x8f, 0x04, 0x02, 0xf5, 0x01,
  0x01, 0x05, 0x7b, 0x20, 0x02, 0xfd, 0x14, 0x20, 0x02, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0xa0, 0xfd,
  0x22, 0x01, 0x21, 0x03, 0x20, 0x03, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0xfd, 0x14, 0xfd, 0xf0, 0x01,
  0x21, 0x04, 0x20, 0x03, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x40, 0xfd, 0x14, 0xfd, 0xf0, 0x01, 0x21, 0x05,
  0x20, 0x03, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x40, 0xfd, 0x14, 0xfd, 0xf0, 0x01, 0x21, 0x06, 0x44, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x40, 0xfd, 0x14, 0x21, 0x07, 0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x41, 0x08, 0x49,
  0x0d, 0x01, 0x20, 0x00, 0x20, 0x03, 0xfd, 0x0b, 0x03, 0x00, 0x20, 0x00, 0x20, 0x04, 0xfd, 0x0b, 0x03, 0x10, 0x20, 0x00,
  0x20, 0x05, 0xfd, 0x0b, 0x03, 0x20, 0x20, 0x00, 0x20, 0x06, 0xfd, 0x0b, 0x03, 0x30, 0x20, 0x03, 0x20, 0x07, 0xfd, 0xf0,
  0x01, 0x21, 0x03, 0x20, 0x04, 0x20, 0x07, 0xfd, 0xf0, 0x01, 0x21, 0x04, 0x20, 0x05, 0x20, 0x07, 0xfd, 0xf0, 0x01, 0x21,
  0x05, 0x20, 0x06, 0x20, 0x07, 0xfd, 0xf0, 0x01, 0x21, 0x06, 0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, 0x20, 0x01,
  0x41, 0x08, 0x6b, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b, 0x20, 0x03, 0xfd, 0x21, 0x00, 0x21, 0x02, 0x02, 0x40, 0x03, 0x40,
  0x20, 0x01, 0x45, 0x0d, 0x01, 0x20, 0x00, 0x20, 0x02, 0x39, 0x03, 0x00, 0x20, 0x02, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x00, 0xf0, 0x3f, 0xa0, 0x21, 0x02, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x21, 0x00, 0x20, 0x01, 0x41, 0x01, 0x6b, 0x21, 0x01,
  0x0c, 0x00, 0x0b, 0x0b, 0x0b, 0x95, 0x02, 0x02, 0x01, 0x7f, 0x05, 0x7b, 0x20, 0x02, 0xfd, 0x14, 0x20, 0x02, 0x44, 0x00,
  0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, 0xa0, 0xfd, 0x22, 0x01, 0x21, 0x04, 0x20, 0x04, 0x44, 0x00, 0x00, 0x00, 0x00,
  0x00, 0x00, 0x00, 0x40, 0xfd, 0x14, 0xfd, 0xf0, 0x01, 0x21, 0x05, 0x20, 0x04, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
  0x10, 0x40, 0xfd, 0x14, 0xfd, 0xf0, 0x01, 0x21, 0x06, 0x20, 0x04, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x18, 0x40,
  0xfd, 0x14, 0xfd, 0xf0, 0x01, 0x21, 0x07, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x40, 0xfd, 0x14, 0x21, 0x08,
  0x02, 0x40, 0x03, 0x40, 0x20, 0x03, 0x41, 0x08, 0x6a, 0x20, 0x01, 0x4b, 0x0d, 0x01, 0x20, 0x00, 0xfd, 0x00, 0x03, 0x00,
  0x20, 0x04, 0xfd, 0x47, 0x20, 0x00, 0xfd, 0x00, 0x03, 0x10, 0x20, 0x05, 0xfd, 0x47, 0xfd, 0x4e, 0x20, 0x00, 0xfd, 0x00,
  0x03, 0x20, 0x20, 0x06, 0xfd, 0x47, 0x20, 0x00, 0xfd, 0x00, 0x03, 0x30, 0x20, 0x07, 0xfd, 0x47, 0xfd, 0x4e, 0xfd, 0x4e,
  0xfd, 0xc3, 0x01, 0x45, 0x0d, 0x01, 0x20, 0x04, 0x20, 0x08, 0xfd, 0xf0, 0x01, 0x21, 0x04, 0x20, 0x05, 0x20, 0x08, 0xfd,
  0xf0, 0x01, 0x21, 0x05, 0x20, 0x06, 0x20, 0x08, 0xfd, 0xf0, 0x01, 0x21, 0x06, 0x20, 0x07, 0x20, 0x08, 0xfd, 0xf0, 0x01,
  0x21, 0x07, 0x20, 0x00, 0x41, 0xc0, 0x00, 0x6a, 0x21, 0x00, 0x20, 0x03, 0x41, 0x08, 0x6a, 0x21, 0x03, 0x0c, 0x00, 0x0b,
  0x0b, 0x20, 0x04, 0xfd, 0x21, 0x00, 0x21, 0x02, 0x02, 0x40, 0x03, 0x40, 0x20, 0x03, 0x20, 0x01, 0x4f, 0x0d, 0x01, 0x20,
  0x00, 0x2b, 0x03, 0x00, 0x20, 0x02, 0x62, 0x0d, 0x01, 0x20, 0x02, 0x44, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f,
  0xa0, 0x21, 0x02, 0x20, 0x00, 0x41, 0x08, 0x6a, 0x21, 0x00, 0x20, 0x03, 0x41, 0x01, 0x6a, 0x21, 0x03, 0x0c, 0x00, 0x0b,
  0x0b, 0x20, 0x03, 0x0b,
];

// The part of the WebAssembly JS API used here (the packages compile without the DOM or node libs).
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
};

/** seq(byteOffset, n, first): stores first, first + 1, ..., first + n - 1 as doubles from byteOffset. */
export type PfnSeqStore = (byteOffset: number, n: number, first: number) => void;

/** run(byteOffset, n, first): how many of the n doubles from byteOffset read first, first + 1, ... before one does not. */
export type PfnRunScan = (byteOffset: number, n: number, first: number) => number;

/** A pages array and, when it lives in a WebAssembly.Memory, the functions that store and scan pfn runs in it. */
export interface PageArray {
  pages: Float64Array;
  seq: PfnSeqStore | null;
  run: PfnRunScan | null;
}

const WASM_PAGE = 65536;
/** The largest memory handed out: wasm32 addresses 4 GiB, and seq takes i32 offsets. */
const MAX_WASM_BYTES = 65536 * WASM_PAGE - WASM_PAGE;

let compiled: object | null | undefined;

/** The compiled module, or null where WebAssembly (or its SIMD) is missing or refused. */
function pageArrayModule(): object | null {
  if (compiled === undefined) {
    try {
      compiled = typeof WebAssembly === 'object' ? new WebAssembly.Module(new Uint8Array(PAGE_ARRAY_WASM)) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled;
}

/**
 * A zeroed pages array of n entries (kvcalloc()): in a WebAssembly.Memory of
 * its own, with the store and the scan bound to it, where WebAssembly is there
 * and the array fits in 4 GiB; else a plain Float64Array (seq and run null). A new memory per
 * array, never grown, so no view of an earlier array is ever detached.
 */
export function allocPageArray(n: number): PageArray {
  const mod = pageArrayModule();
  const bytes = n * 8;
  if (mod !== null && bytes <= MAX_WASM_BYTES) {
    try {
      const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / WASM_PAGE)) });
      const inst = new WebAssembly.Instance(mod, { e: { m: memory } });
      const seq = inst.exports['seq'] as PfnSeqStore;
      const run = inst.exports['run'] as PfnRunScan;
      return { pages: new Float64Array(memory.buffer, 0, n), seq, run };
    } catch {
      // out of address space for another memory: the plain array below
    }
  }
  return { pages: new Float64Array(n), seq: null, run: null };
}

/** What record_subpages() stores: pages[at..at+n) = page, page + 1, ... (the JavaScript form). */
export function storePfnRunJs(pages: Float64Array, at: number, page: number, n: number): void {
  let v = page;
  for (let i = at, e = at + n; i < e; i++) pages[i] = v++;
}

/** What run() answers (the JavaScript form): how many of pages[at..at+n) read first, first + 1, ... before one does not. */
export function pfnRunLengthJs(pages: Float64Array, at: number, n: number, first: number): number {
  let k = 0;
  while (k < n && pages[at + k] === first + k) k++;
  return k;
}
