#!/bin/bash
# views-ref: the kernel's procfs/sysfs views of a QEMU pc guest (4 GiB RAM, one label-less 16 GiB
# NVDIMM) through ndctl devdax 2M/mem -> daxctl system-ram -> offline -> devdax -> fsdax, each file
# dumped verbatim (guest/init). A copy of shared/real-kernel/ndctl-ref/run.sh with its own guest.
# Reuses what shared/real-kernel/cxl-ref/prepare.sh unpacks (QEMU 10, ndctl 81, the 7.3 kernel).
#   TAG=7.3-offline EXTRA=memhp_default_state=offline ./run.sh
#   KVER=6.1.0-57-amd64 KROOT=/tmp/cxl-ref/k61 TAG=6.1 ./run.sh     (6.1: apt-get download
#       linux-image-6.1.0-57-amd64 from bookworm-security, dpkg -x to $KROOT, xz -d the nvdimm/dax
#       modules, depmod -b $KROOT $KVER)
# Knobs: NREF_WORK [/tmp/views-ref/work]  CXL_WORK [/tmp/cxl-ref]  KVER [7.3-amd64]
#        KROOT [$CXL_WORK/k-$KVER]  TAG [$KVER]  EXTRA []  PMEM_SIZE [16G]  GUEST_MEM [4G]
# The stored raw-*.txt had /proc/buddyinfo and /proc/pagetypeinfo dumped too; those were dropped.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=${NREF_WORK:-/tmp/views-ref/work}
CW=${CXL_WORK:-/tmp/cxl-ref}
KVER=${KVER:-7.3-amd64}
KROOT=${KROOT:-$CW/k-$KVER}
TAG=${TAG:-$KVER}
LABEL_SIZE=
if [ -n "$LABEL_SIZE" ]; then PMEM_SIZE=${PMEM_SIZE:-17G}; else PMEM_SIZE=${PMEM_SIZE:-16G}; fi
PMEM_ALIGN=${PMEM_ALIGN:-1G}
EXTRA=${EXTRA:-}
QEMU_ROOT=${QEMU_ROOT:-$CW/qemu}
QEMU_LIBS=${QEMU_LIBS:-$CW/qemu-libs}
NDCTL_ROOT=${NDCTL_ROOT:-$CW/ndctl}
GUEST_MEM=${GUEST_MEM:-4G}
CPU=${CPU:-max}
SMP=${SMP:-1}
TIMEOUT=${TIMEOUT:-1500}
say() { echo "[run.sh] $*" >&2; }
mkdir -p "$WORK"

[ -f "$KROOT/boot/vmlinuz-$KVER" ] || { say "no $KROOT/boot/vmlinuz-$KVER: run ../cxl-ref/prepare.sh (7.3) or ../cxl-ref/run.sh with KVER=6.1.0-57-amd64 once (6.1)"; exit 1; }
MD=$KROOT/lib/modules/$KVER
[ -f "$MD/modules.dep" ] || { say "no $MD/modules.dep"; exit 1; }

# ---------------------------------------------------------------- initramfs
IR=$WORK/initramfs-$TAG
rm -rf "$IR"; mkdir -p "$IR"/{bin,sbin,usr/bin,usr/lib/x86_64-linux-gnu,lib64,etc,proc,sys,dev,tmp,run}
file -L /bin/busybox | grep -q 'statically linked' || { say "/bin/busybox is not static (busybox-static)"; exit 1; }
cp /bin/busybox "$IR/bin/busybox"; ln -s busybox "$IR/bin/sh"
# ndctl/daxctl with exactly the libraries the packaged ld.so resolves (that suite's libc)
LDSO=$NDCTL_ROOT/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
LP=$NDCTL_ROOT/usr/lib/x86_64-linux-gnu:$NDCTL_ROOT/lib/x86_64-linux-gnu
for b in daxctl ndctl; do
  cp "$NDCTL_ROOT/usr/bin/$b" "$IR/usr/bin/"
  "$LDSO" --library-path "$LP" --list "$NDCTL_ROOT/usr/bin/$b" | awk '/=>/ {print $3}' | while read -r lib; do
    case $lib in "$NDCTL_ROOT"/*) ;; *) say "$b: $lib resolves outside $NDCTL_ROOT"; exit 1 ;; esac
    cp -L "$lib" "$IR/usr/lib/x86_64-linux-gnu/"
  done
done
cp -L "$LDSO" "$IR/lib64/ld-linux-x86-64.so.2"
# the packages' own config directories, as an installed system has them (no modprobe.d hook)
for d in ndctl.conf.d daxctl.conf.d; do [ -d "$NDCTL_ROOT/etc/$d" ] && cp -r "$NDCTL_ROOT/etc/$d" "$IR/etc/"; done
MODS="nfit libnvdimm nd_pmem nd_btt dax_pmem device_dax kmem"
want=""
for m in $MODS; do
  path=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$MD/modules.dep" | head -n1 || true)
  [ -n "$path" ] || { say "module $m not found"; exit 1; }
  want="$want ${path%%:*} ${path#*:}"
done
for f in $(echo "$want" | tr ' ' '\n' | sort -u); do
  mkdir -p "$IR/lib/modules/$KVER/$(dirname "$f")"; cp "$MD/$f" "$IR/lib/modules/$KVER/$f"
  case $f in *.xz) xz -d "$IR/lib/modules/$KVER/$f" ;; *.zst) zstd -q -d --rm "$IR/lib/modules/$KVER/$f" ;; esac
done
cp "$MD"/modules.builtin* "$MD"/modules.order "$IR/lib/modules/$KVER/" 2>/dev/null || true
depmod -b "$IR" "$KVER"
cp "$HERE/guest/init" "$IR/init"; chmod +x "$IR/init"
(cd "$IR" && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$WORK/initramfs-$TAG.cpio.gz"
say "initramfs: $(du -h "$WORK/initramfs-$TAG.cpio.gz" | cut -f1)"

IMG=$WORK/pmem-$TAG.img
rm -f "$IMG"; truncate -s "$PMEM_SIZE" "$IMG"     # sparse, zero: no labels until ndctl writes them

# ---------------------------------------------------------------- boot (TCG)
QEMU=$QEMU_ROOT/usr/bin/qemu-system-x86_64
export LD_LIBRARY_PATH=$QEMU_LIBS/usr/lib/x86_64-linux-gnu:$QEMU_LIBS/lib/x86_64-linux-gnu
QV=$("$QEMU" --version | head -n1)
CMDLINE="console=ttyS0 loglevel=4 panic=-1 nokaslr $EXTRA"
CON=$WORK/console-$TAG.log RAW=$WORK/raw-$TAG.txt
rm -f "$CON" "$RAW"
NVD="nvdimm,id=nvdimm0,memdev=nvmem0"
[ -n "$LABEL_SIZE" ] && NVD="$NVD,label-size=$LABEL_SIZE"
QARGS=(-L "$QEMU_ROOT/usr/share/qemu" -L "$QEMU_ROOT/usr/share/seabios"
  -accel tcg,thread=multi -cpu "$CPU" -smp "$SMP"
  -machine pc,nvdimm=on -m "$GUEST_MEM,slots=4,maxmem=64G"
  -object "memory-backend-file,id=nvmem0,share=on,mem-path=$IMG,size=$PMEM_SIZE,align=$PMEM_ALIGN"
  -device "$NVD"
  -display none -no-reboot -nodefaults
  -serial "file:$CON" -serial "file:$RAW"
  -kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$WORK/initramfs-$TAG.cpio.gz" -append "$CMDLINE")
say "$QV"
say "booting $KVER: qemu-system-x86_64 ${QARGS[*]}"
start=$(date +%s)
set +e
timeout "$TIMEOUT" "$QEMU" "${QARGS[@]}"
qrc=$?
set -e
secs=$(( $(date +%s) - start ))
say "qemu exited rc=$qrc after ${secs}s"
rm -f "$IMG"
grep -q '^DONE' "$RAW" 2>/dev/null || say "WARNING: guest did not finish; see $CON"
echo "HOST {\"qemu\":\"$QV\",\"seconds\":$secs,\"qemu_rc\":$qrc,\"label_size\":\"$LABEL_SIZE\",\"pmem_size\":\"$PMEM_SIZE\",\"extra\":\"$EXTRA\"}" >> "$RAW"
# keep the logs with the results (text, small)
tr -d '\r' < "$CON" | tail -c 950000 > "$HERE/console-$TAG.log"
tr -d '\r' < "$RAW" > "$HERE/raw-$TAG.txt"
say "wrote $HERE/console-$TAG.log and raw-$TAG.txt"
