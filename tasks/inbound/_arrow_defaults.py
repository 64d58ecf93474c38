"""How pyarrow is set up for the landing; imported by `tasks.inbound` before any of its modules imports pyarrow.

The landing's Parquet writer allocates from Arrow's default pool, which Arrow picks once, when pyarrow loads, from
`ARROW_DEFAULT_MEMORY_POOL` (pyarrow.set_memory_pool does not reach the Parquet writer). Its default, mimalloc,
keeps about 25 MiB of a sync's peak RSS for itself (per thread that wrote a part); the system allocator hands it
back (bench/README.md#memory-with-landing-on). A value set outside wins.

The landing reads and writes local files. pyarrow.parquet imports pyarrow.fs, which loads its S3, GCS, Azure and
HDFS filesystems when it can (the S3 one loads the AWS SDK: 8 MiB of a sync's RSS) and takes one it cannot import
as not built in; they are marked absent, unless something imported them already.
"""

import os
import sys

os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
for _filesystem in ("_s3fs", "_gcsfs", "_azurefs", "_hdfs"):
    sys.modules.setdefault(f"pyarrow.{_filesystem}", None)  # type: ignore[arg-type]
