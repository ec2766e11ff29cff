"""Regenerate (or, with --check, verify) the gRPC code in protos/stratos_wire.

    python protos/generate.py          # rewrite the generated files
    python protos/generate.py --check  # exit 1 if the committed files are stale

Needs grpcio-tools at the version pinned in pyproject.toml's `test` extra, so the
output is byte-for-byte reproducible.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protos"
OUT_DIR = ROOT / "protos" / "stratos_wire"
FILES = ("stratos_pb2.py", "stratos_pb2.pyi", "stratos_pb2_grpc.py")


def generate(out: pathlib.Path) -> None:
    from grpc_tools import protoc

    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        str(PROTO_DIR / "stratos.proto"),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    grpc_file = out / "stratos_pb2_grpc.py"
    # protoc writes a top-level import; the package needs a relative one.
    text = grpc_file.read_text().replace("import stratos_pb2 as", "from . import stratos_pb2 as")
    grpc_file.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when stale")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = pathlib.Path(tmp)
        generate(fresh)
        stale = [f for f in FILES if not (OUT_DIR / f).exists()
                 or (OUT_DIR / f).read_bytes() != (fresh / f).read_bytes()]
        if opts.check:
            if stale:
                print("stale generated code: " + ", ".join(stale) + "; run: python protos/generate.py")
                return 1
            print("generated code is up to date")
            return 0
        for f in FILES:
            (OUT_DIR / f).write_bytes((fresh / f).read_bytes())
        print("wrote " + ", ".join(str(OUT_DIR / f) for f in FILES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
