/**
 * include/linux/sizes.h: sizes by name, so that a reader sees `16 * SZ_1G`
 * where the kernel writes it. One definition for every package above.
 */
export const SZ_1K = 0x400;
export const SZ_2K = 0x800;
export const SZ_4K = 0x1000;
export const SZ_8K = 0x2000;
export const SZ_16K = 0x4000;
export const SZ_64K = 0x10000;
export const SZ_1M = 0x100000;
export const SZ_2M = 0x200000;
export const SZ_4M = 0x400000;
export const SZ_16M = 0x1000000;
export const SZ_32M = 0x2000000;
export const SZ_64M = 0x4000000;
export const SZ_128M = 0x8000000;
export const SZ_256M = 0x10000000;
export const SZ_512M = 0x20000000;
export const SZ_1G = 0x40000000;
export const SZ_2G = 0x80000000;
export const SZ_4G = 0x100000000;
export const SZ_8G = 0x200000000;
export const SZ_16G = 0x400000000;
export const SZ_64G = 0x1000000000;
export const SZ_1T = 0x10000000000;
