#pragma once
/// Transparent dirty tracking, an optional mode of a checkpoint handle: the application writes a
/// section with plain stores through the pointer its write transaction gives (tx.data()), marking
/// nothing; the commit asks the kernel which pages were written since the last commit (userfaultfd
/// write-protection in asynchronous mode, read back and re-armed with the PAGEMAP_SCAN ioctl, Linux
/// 6.7 and later) and marks those pages dirty, exactly as span()/mark_dirty() would, before
/// publishing. Everything after that (capture, block hashes, replication of changed blocks only) is
/// unchanged. Explicit marks still work alongside; a commit that wrote nothing sends nothing.
///
/// Granularity is the page (4 KiB): a written page marks every block of it, and the engine's block
/// hashes keep the unchanged ones off the wire. The first store to a page after a commit takes a
/// minor fault (well under a microsecond here); the commit's scan walks the section's page table.
#include "ckpt/client/checkpoint.hpp"

namespace ckpt::client {

/// OK when this kernel offers what the mode needs; otherwise NOT_SUPPORTED saying what is missing
/// (kernel version, userfaultfd features, PAGEMAP_SCAN).
Status write_tracking_supported();

/// Turns transparent tracking on for every section of `ck` (a handle opened for writing): from now
/// on each commit through this handle marks the pages written since the previous one. ACCESS on a
/// read-only handle, NOT_SUPPORTED as above; calling it again is a no-op.
Status enable_write_tracking(Checkpoint& ck);

} // namespace ckpt::client
