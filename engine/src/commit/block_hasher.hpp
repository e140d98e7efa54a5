#pragma once
/// The per-block step of a commit capture on a replicating active: copy, hash, compare. Inline, so
/// that capture() pays no call per block for having it factored out, and bench/bench_hashing
/// measures the same code compiled the same way.
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>

namespace ckpt::engine {

/// Copies one dirty block of `size` bytes from the live area to the shadow, hashes the shadow copy
/// with XXH3-64 and compares the hash with `replicated_hash`, the hash of the block as the replicas
/// hold it. Returns the new hash when they differ (the block must be sent), nullopt when they are
/// equal (the replicas hold these bytes already: the block is skipped).
///
/// The hash is taken over the copy, not over `live`: the copy is what is committed and what a
/// DATA frame later reads, so the hash always describes the bytes sent, even if the live block
/// were written again meanwhile (capture() then discards the copy as torn).
inline std::optional<std::uint64_t> copy_hash_block(std::byte* shadow, const std::byte* live, std::size_t size,
                                                    std::uint64_t replicated_hash) noexcept {
    std::memcpy(shadow, live, size);
    const std::uint64_t h = XXH3_64bits(shadow, size);
    if (h == replicated_hash) return std::nullopt;
    return h;
}

} // namespace ckpt::engine
