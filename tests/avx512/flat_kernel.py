#!/usr/bin/env python3
"""Debian's x86-64 kernel (bzImage) as the flat image pvh_boot.c loads.

    flat_kernel.py BZIMAGE OUT

Under Bochs the kernel's own start, which unpacks its XZ-compressed body,
took most of the guest's boot (75 to 90 of 130 seconds). This does that
unpacking on the host, once: it takes the ELF kernel out of the bzImage
(the header's payload_offset and payload_length), and writes the parts
its program headers load, with pages of zeros left out, and the entry
point for PVH boot (the Xen note PHYS32_ENTRY, which Debian's kernels
carry).

OUT (all little-endian, 32-bit words):
    "MLPK", entry, number of records, 0
    each record: physical address, n data bytes, n zero bytes after them,
    then the data, padded to a multiple of 4 bytes.
"""
import lzma
import os
import struct
import sys

PAGE = 4096
XEN_ELFNOTE_PHYS32_ENTRY = 18


def payload(image):
    """The ELF kernel inside a bzImage with an XZ payload."""
    if image[0x202:0x206] != b"HdrS":
        sys.exit("flat_kernel: not a bzImage (no HdrS)")
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    body = image[start : start + length]
    if not body.startswith(b"\xfd7zXZ\x00"):
        sys.exit("flat_kernel: the kernel's payload is not XZ")
    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(body)


def pvh_entry(elf, phdrs):
    """The 32-bit PVH entry point from the kernel's PT_NOTE segments."""
    for p_type, off, size in ((p[0], p[2], p[5]) for p in phdrs):
        if p_type != 4:
            continue
        pos, end = off, off + size
        while pos + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz]
            desc = pos + 12 + (namesz + 3) // 4 * 4
            if name == b"Xen\x00" and n_type == XEN_ELFNOTE_PHYS32_ENTRY:
                return struct.unpack_from("<I", elf, desc)[0]
            pos = desc + (descsz + 3) // 4 * 4
    sys.exit("flat_kernel: the kernel has no PVH entry (Xen note 18)")


def records(elf, phdrs):
    """(address, data, zero bytes) for each run of loaded pages."""
    out = []
    for p_type, _, off, paddr, filesz, memsz in phdrs:
        if p_type != 1:
            continue
        seg = elf[off : off + filesz]
        pos = 0
        while pos < filesz:
            data_end = pos
            while data_end < filesz and seg[data_end : data_end + PAGE].count(0) != len(
                seg[data_end : data_end + PAGE]
            ):
                data_end += PAGE
            data_end = min(data_end, filesz)
            zero_end = data_end
            while zero_end < filesz and seg[zero_end : zero_end + PAGE].count(0) == len(
                seg[zero_end : zero_end + PAGE]
            ):
                zero_end += PAGE
            zero_end = min(zero_end, filesz)
            if zero_end == filesz:
                zero_end = memsz
            out.append((paddr + pos, seg[pos:data_end], zero_end - data_end))
            pos = zero_end
        if filesz == 0 and memsz:
            out.append((paddr, b"", memsz))
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: flat_kernel.py BZIMAGE OUT")
    with open(sys.argv[1], "rb") as f:
        elf = payload(f.read())
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit("flat_kernel: the payload is not a 64-bit ELF")
    phoff = struct.unpack_from("<Q", elf, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    phdrs = []
    for i in range(phnum):
        p_type, _, off, _, paddr, filesz, memsz, _ = struct.unpack_from(
            "<IIQQQQQQ", elf, phoff + i * phentsize
        )
        if p_type == 1 and paddr + memsz > 0xFFFFFFFF:
            sys.exit("flat_kernel: a segment lies above 4 GiB")
        phdrs.append((p_type, 0, off, paddr, filesz, memsz))
    entry = pvh_entry(elf, phdrs)
    recs = records(elf, phdrs)
    out = [struct.pack("<4sIII", b"MLPK", entry, len(recs), 0)]
    for paddr, data, zeros in recs:
        out.append(struct.pack("<III", paddr, len(data), zeros))
        out.append(data + b"\0" * (-len(data) % 4))
    with open(sys.argv[2] + ".part", "wb") as f:
        f.write(b"".join(out))
    os.replace(sys.argv[2] + ".part", sys.argv[2])


if __name__ == "__main__":
    main()
