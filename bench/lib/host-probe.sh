#!/usr/bin/env bash
# How busy the host is, before a benchmark: seconds to hash 1 GB of zeros (2.5 s on a quiet 2 vCPU
# AMD EPYC host, up to 12 s on a contended one) and to write 20,000 4-KiB blocks with an fdatasync
# every 100. Runs on different hosts or at different times compare only when these agree.
set -euo pipefail
seconds() { python3 -c 'import sys, time; s = time.monotonic(); import subprocess; subprocess.run(sys.argv[1:], check=True); print(f"{time.monotonic() - s:.2f}")' "$@"; }
echo "cpu probe: $(seconds sh -c 'head -c 1G /dev/zero | sha256sum >/dev/null') s"
echo "disk probe: $(seconds python3 -c '
import os, tempfile
fd, path = tempfile.mkstemp(dir=".")
block = b"x" * 4096
for i in range(20000):
    os.write(fd, block)
    if i % 100 == 99:
        os.fdatasync(fd)
os.close(fd)
os.unlink(path)
') s"
