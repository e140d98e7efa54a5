#pragma once
/// The frame MAC of wire version 3: every frame's Hotspare header and body are authenticated with
/// AES-256-GMAC (AES-256-GCM with the frame as additional data and no message, libsodium, AES-NI)
/// under a per-sender key derived from the cluster key, or, with `auth = none`, checked with an
/// unkeyed XXH3-128. Either way the 16-byte tag trails the body and is the frame's only integrity
/// pass (it replaces version 2's XXH3 frame hash).
///
/// Nonce uniqueness (GCM's one hard rule): a sender never MACs two frames with one key and one
/// nonce. The key a frame is MACed with is derived per sender and per sender session:
///   K(frame) = BLAKE2b-256(key = cluster key #id, "HSPR frame key v3" | id | src_node | session)
/// and the 96-bit nonce is the sender's frame counter (64 bits, from 1, +1 per transmission,
/// retransmissions included) followed by 32 zero bits. `session` is 64 random bits drawn at every
/// engine start (getrandom), so a restarted sender gets a fresh key and may count from 1 again;
/// two senders never share a derived key (src_node is in it). Why GMAC and libsodium:
/// bench/bench_frame_mac.cpp and docs/ARCHITECTURE.md §9.2.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace ckpt::net {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kTagBytes = 16;

/// One cluster key: an id (1..255, carried in every frame's header) and 32 secret bytes.
struct ClusterKey {
    std::uint8_t id = 0;
    std::array<unsigned char, kKeyBytes> bytes{};
};

class FrameAuth {
public:
    /// No key: frames carry key id 0 and an unkeyed XXH3-128 checksum (`auth = none`).
    FrameAuth();
    ~FrameAuth();
    FrameAuth(const FrameAuth&) = delete;
    FrameAuth& operator=(const FrameAuth&) = delete;

    /// Adds a key: it becomes the newest; the one that was newest stays accepted (two keys during
    /// a rotation); an older one is forgotten. Adding the newest key again changes nothing.
    /// Returns an empty string, or why the key was refused (id 0; an id already held with other
    /// bytes: a new key needs a new id; no AES-NI on this CPU).
    std::string add_key(const ClusterKey& k);
    bool keyed() const { return newest_ != 0; }
    std::uint8_t newest_key() const { return newest_; }
    std::uint8_t previous_key() const { return previous_; }
    bool has_key(std::uint8_t id) const { return id != 0 && (id == newest_ || id == previous_); }

    /// Computes the tag of `aad` (the Hotspare header and body) as sender `src_node` in `session`
    /// with key `key_id` (0: the unkeyed checksum) and nonce `counter`, into tag[0, 16). false
    /// when this node does not hold the key.
    bool seal(const std::byte* aad, std::size_t len, std::uint8_t key_id, std::uint16_t src_node, std::uint64_t session,
              std::uint64_t counter, std::byte* tag);
    /// True when `tag` is right. A keyed node refuses key id 0 and a key it does not hold (false;
    /// the caller tells the two apart with has_key); a node without a key refuses every keyed frame.
    bool verify(const std::byte* aad, std::size_t len, std::uint8_t key_id, std::uint16_t src_node,
                std::uint64_t session, std::uint64_t counter, const std::byte* tag);

private:
    struct Cache;
    struct Derived;
    Derived* derived(std::uint8_t key_id, std::uint16_t src_node, std::uint64_t session);
    const ClusterKey* key(std::uint8_t id) const;

    ClusterKey keys_[2]{}; ///< [0] newest, [1] previous
    std::uint8_t newest_ = 0, previous_ = 0;
    std::unique_ptr<Cache> cache_;
};

/// 64 random bits from getrandom(2), never 0: an engine's session, a handshake challenge.
std::uint64_t random_u64();

/// Reads a cluster key file (`ckptctl keygen` writes them): lines `id = N` (1..255) and
/// `key = <64 hex digits>`, `#` comments. The file must be a regular file, mode 0600 or stricter
/// (no group or other bits) and owned by root or by this process's uid. Returns an empty string,
/// or the reason naming the file and the fix.
std::string load_key_file(const std::string& path, ClusterKey& out);
/// Overwrites a key's bytes (sodium_memzero: not optimised away).
void wipe_key(ClusterKey& k);
/// A new random key (libsodium's randombytes) with id `id`.
ClusterKey generate_key(std::uint8_t id);
/// Writes `k` to `path` as load_key_file reads it, created 0600 with O_EXCL unless `overwrite`
/// (then replaced atomically through a temporary file). Returns an empty string or the reason.
std::string write_key_file(const std::string& path, const ClusterKey& k, bool overwrite);

} // namespace ckpt::net
