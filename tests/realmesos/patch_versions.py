# Clear symbol-version requirements for libssl/libcrypto/libcurl in _scheduler.so,
# and mark those verneed entries WEAK, so an unversioned OpenSSL 1.0.2 and
# Debian's libcurl-gnutls can satisfy them. Usage: patch_versions.py PATH (edits PATH in place).
# Needs pyelftools (setup.sh installs it into the cache directory).
import struct
import sys

from elftools.elf.elffile import ELFFile

TARGETS = ("libssl.so.1.0.0", "libcrypto.so.1.0.0", "libcurl.so.4")
VER_FLG_WEAK = 2


def main(path: str) -> None:
    with open(path, "rb") as f:
        elf = ELFFile(f)
        vr = elf.get_section_by_name(".gnu.version_r")
        vs = elf.get_section_by_name(".gnu.version")
        dynstr = elf.get_section_by_name(".dynstr")
        vr_off = vr["sh_offset"]
        vs_off = vs["sh_offset"]
        nsyms = vs["sh_size"] // 2
        ds_off = dynstr["sh_offset"]
    with open(path, "rb") as f:
        data = bytearray(f.read())

    def cstr(o: int) -> str:
        e = data.index(b"\0", ds_off + o)
        return data[ds_off + o : e].decode()

    idxs = set()
    off = vr_off
    while True:
        _vn_version, vn_cnt, vn_file, vn_aux, vn_next = struct.unpack_from("<HHIII", data, off)
        fname = cstr(vn_file)
        aoff = off + vn_aux
        for _ in range(vn_cnt):
            _vna_hash, vna_flags, vna_other, vna_name, vna_next = struct.unpack_from("<IHHII", data, aoff)
            if fname in TARGETS:
                idxs.add(vna_other)
                struct.pack_into("<H", data, aoff + 4, vna_flags | VER_FLG_WEAK)
                print("weakened", fname, cstr(vna_name), "idx", vna_other)
            aoff += vna_next
        if vn_next == 0:
            break
        off += vn_next
    n = 0
    for i in range(nsyms):
        v = struct.unpack_from("<H", data, vs_off + 2 * i)[0]
        if (v & 0x7FFF) in idxs:
            struct.pack_into("<H", data, vs_off + 2 * i, 1)  # VER_NDX_GLOBAL
            n += 1
    print("cleared versions on", n, "symbols")
    with open(path, "wb") as out:
        out.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
