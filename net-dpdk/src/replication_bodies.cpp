// Codecs of the replication control bodies (NACK, ANNOUNCE, SECTION, HASHES, RESYNC_DONE): every
// length checked before use, nothing read outside the body.
#include "be_bytes.hpp"
#include "ckpt/net/wire_format.hpp"

#include <cstring>

namespace ckpt::net {

using namespace be;

std::size_t encode_nack_body(std::span<std::byte> out, const NackBody& n) {
    if (out.size() < kNackBody) return 0;
    put64(out.data(), n.first);
    put64(out.data() + 8, n.last);
    return kNackBody;
}

Reject decode_nack_body(std::span<const std::byte> body, NackBody& n) {
    if (body.size() != kNackBody) return Reject::kBadBody;
    NackBody t{get64(body.data()), get64(body.data() + 8)};
    if (t.first == 0 || t.first > t.last) return Reject::kBadBody;
    n = t;
    return Reject::kNone;
}

std::size_t encode_announce_body(std::span<std::byte> out, const AnnounceBody& a) {
    const std::size_t n = kAnnounceBodyFixed + a.name.size();
    if (out.size() < n || a.name.size() > 0xFFFF) return 0;
    std::byte* p = out.data();
    put32(p, a.checkpoint_id);
    put32(p + 4, a.creation_flags);
    put64(p + 8, a.incarnation);
    put64(p + 16, a.checkpoint_size);
    put64(p + 24, a.max_section_size);
    put64(p + 32, static_cast<std::uint64_t>(a.retention_ns));
    put32(p + 40, a.max_sections);
    put32(p + 44, a.max_section_id_size);
    put32(p + 48, a.block_size);
    put32(p + 52, static_cast<std::uint32_t>(a.name.size()));
    put64(p + 56, a.commit_seq);
    put64(p + 64, a.join);
    std::memcpy(p + kAnnounceBodyFixed, a.name.data(), a.name.size());
    return n;
}

Reject decode_announce_body(std::span<const std::byte> body, AnnounceBody& a) {
    if (body.size() < kAnnounceBodyFixed) return Reject::kBadBody;
    const std::byte* p = body.data();
    AnnounceBody t;
    t.checkpoint_id = get32(p);
    t.creation_flags = get32(p + 4);
    t.incarnation = get64(p + 8);
    t.checkpoint_size = get64(p + 16);
    t.max_section_size = get64(p + 24);
    t.retention_ns = static_cast<std::int64_t>(get64(p + 32));
    t.max_sections = get32(p + 40);
    t.max_section_id_size = get32(p + 44);
    t.block_size = get32(p + 48);
    const std::uint32_t name_len = get32(p + 52);
    t.commit_seq = get64(p + 56);
    t.join = get64(p + 64);
    if (name_len == 0 || name_len != body.size() - kAnnounceBodyFixed) return Reject::kBadBody;
    t.name = std::string_view(reinterpret_cast<const char*>(p + kAnnounceBodyFixed), name_len);
    a = t;
    return Reject::kNone;
}

std::size_t encode_section_body(std::span<std::byte> out, const SectionBody& s) {
    const std::size_t n = kSectionBodyFixed + s.id.size();
    if (out.size() < n) return 0;
    std::byte* p = out.data();
    put32(p, s.checkpoint_id);
    put32(p + 4, static_cast<std::uint32_t>(s.op));
    put32(p + 8, s.slot);
    put32(p + 12, static_cast<std::uint32_t>(s.id.size()));
    put64(p + 16, s.generation);
    put64(p + 24, s.data_offset);
    put64(p + 32, s.capacity);
    put64(p + 40, static_cast<std::uint64_t>(s.expiration_ns));
    put64(p + 48, s.seq);
    put64(p + 56, s.size);
    put64(p + 64, 0);
    if (!s.id.empty()) std::memcpy(p + kSectionBodyFixed, s.id.data(), s.id.size());
    return n;
}

Reject decode_section_body(std::span<const std::byte> body, SectionBody& s) {
    if (body.size() < kSectionBodyFixed) return Reject::kBadBody;
    const std::byte* p = body.data();
    SectionBody t;
    t.checkpoint_id = get32(p);
    const std::uint32_t op = get32(p + 4);
    if (op < 1 || op > 4) return Reject::kBadBody;
    t.op = static_cast<SectionOp>(op);
    t.slot = get32(p + 8);
    const std::uint32_t id_len = get32(p + 12);
    t.generation = get64(p + 16);
    t.data_offset = get64(p + 24);
    t.capacity = get64(p + 32);
    t.expiration_ns = static_cast<std::int64_t>(get64(p + 40));
    t.seq = get64(p + 48);
    t.size = get64(p + 56);
    if (id_len != body.size() - kSectionBodyFixed) return Reject::kBadBody;
    t.id = body.subspan(kSectionBodyFixed);
    s = t;
    return Reject::kNone;
}

std::size_t encode_hashes_body(std::span<std::byte> out, const HashesBody& h, std::span<const std::uint64_t> hashes) {
    const std::size_t n = kHashesBodyFixed + 8 * hashes.size();
    if (out.size() < n || hashes.size() > 0xFFFF'FFFFu) return 0;
    std::byte* p = out.data();
    put32(p, h.checkpoint_id);
    put32(p + 4, h.slot);
    put64(p + 8, h.generation);
    put64(p + 16, h.data_offset);
    put64(p + 24, h.capacity);
    put64(p + 32, h.id_hash);
    put32(p + 40, h.first_block);
    put32(p + 44, static_cast<std::uint32_t>(hashes.size()));
    put64(p + 48, h.join);
    for (std::size_t i = 0; i < hashes.size(); ++i) put64(p + kHashesBodyFixed + 8 * i, hashes[i]);
    return n;
}

Reject decode_hashes_body(std::span<const std::byte> body, HashesBody& h) {
    if (body.size() < kHashesBodyFixed) return Reject::kBadBody;
    const std::byte* p = body.data();
    HashesBody t;
    t.checkpoint_id = get32(p);
    t.slot = get32(p + 4);
    t.generation = get64(p + 8);
    t.data_offset = get64(p + 16);
    t.capacity = get64(p + 24);
    t.id_hash = get64(p + 32);
    t.first_block = get32(p + 40);
    t.count = get32(p + 44);
    t.join = get64(p + 48);
    if (std::uint64_t{t.count} * 8 != body.size() - kHashesBodyFixed) return Reject::kBadBody;
    t.hashes = body.subspan(kHashesBodyFixed);
    h = t;
    return Reject::kNone;
}

std::uint64_t hashes_at(const HashesBody& h, std::uint32_t i) {
    return get64(h.hashes.data() + 8 * std::size_t{i});
}

std::uint32_t body_checkpoint_id(std::span<const std::byte> body) {
    return body.size() < 4 ? 0 : get32(body.data());
}

std::size_t encode_resync_done_body(std::span<std::byte> out, const ResyncDoneBody& r) {
    if (out.size() < kResyncDoneBody) return 0;
    put32(out.data(), r.checkpoint_id);
    put32(out.data() + 4, r.sections);
    put64(out.data() + 8, r.blocks_sent);
    return kResyncDoneBody;
}

Reject decode_resync_done_body(std::span<const std::byte> body, ResyncDoneBody& r) {
    if (body.size() != kResyncDoneBody) return Reject::kBadBody;
    r = ResyncDoneBody{get32(body.data()), get32(body.data() + 4), get64(body.data() + 8)};
    return Reject::kNone;
}

std::size_t encode_refused_body(std::span<std::byte> out, const RefusedBody& r) {
    if (out.size() < kRefusedBody) return 0;
    std::byte* p = out.data();
    put32(p, r.checkpoint_id);
    p[4] = static_cast<std::byte>(r.reason);
    p[5] = static_cast<std::byte>(r.refused_type);
    p[6] = p[7] = std::byte{0};
    put64(p + 8, r.refused_link_seq);
    put64(p + 16, r.commit_seq);
    put64(p + 24, r.replica_epoch);
    return kRefusedBody;
}

Reject decode_refused_body(std::span<const std::byte> body, RefusedBody& r) {
    if (body.size() != kRefusedBody) return Reject::kBadBody;
    const std::byte* p = body.data();
    const auto reason = std::to_integer<std::uint8_t>(p[4]);
    const auto type = std::to_integer<std::uint8_t>(p[5]);
    if (reason == 0 || reason > kMaxRefuseReason) return Reject::kBadBody;
    if (type == 0 || type > kMaxFrameType || !is_sequenced(static_cast<FrameType>(type))) return Reject::kBadBody;
    r.checkpoint_id = get32(p);
    r.reason = static_cast<RefuseReason>(reason);
    r.refused_type = static_cast<FrameType>(type);
    r.reserved = 0;
    r.refused_link_seq = get64(p + 8);
    r.commit_seq = get64(p + 16);
    r.replica_epoch = get64(p + 24);
    return Reject::kNone;
}

const char* refuse_reason_name(RefuseReason r) {
    switch (r) {
    case RefuseReason::kUnknownCheckpoint:
        return "unknown checkpoint";
    case RefuseReason::kStaleEpoch:
        return "stale epoch";
    case RefuseReason::kNotFromActive:
        return "not from its active";
    case RefuseReason::kBadCommit:
        return "commit did not fit the replica";
    case RefuseReason::kNoReplica:
        return "cannot create the replica";
    case RefuseReason::kOverLimit:
        return "replica over this node's limits";
    }
    return "unknown reason";
}

} // namespace ckpt::net
