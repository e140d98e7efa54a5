// libFuzzer target: the frame decoder and every body decoder. Half the inputs are taken as whole
// Ethernet frames (decode_frame as a node sees the wire); the other half are made into frames
// with a VALID tag under a fixed cluster key (the first bytes choose type, flags, link_seq and
// the header fields, the rest is the body), so the body decoders behind the MAC are reached.
// Whatever decodes is read back through the decoded spans (ASan sees any over-read).
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/net/wire_format.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace ckpt::net;

namespace {

FrameAuth& auth() {
    static FrameAuth* a = [] {
        auto* x = new FrameAuth;
        ClusterKey k;
        k.id = 1;
        k.bytes.fill(0x5A);
        if (!x->add_key(k).empty()) __builtin_trap();
        return x;
    }();
    return *a;
}

std::uint64_t touch(std::span<const std::byte> s) {
    std::uint64_t x = 0;
    for (std::byte b : s) x += std::to_integer<unsigned>(b);
    return x;
}

void bodies(const DecodedFrame& f) {
    volatile std::uint64_t sink = 0;
    switch (f.header.type) {
    case FrameType::kData: {
        DataBody d;
        std::span<const std::byte> payload;
        if (decode_data_body(f.body, d, payload) == Reject::kNone) {
            sink = sink + touch(payload) + d.length;
            // No payload hash since version 4 as released: a decoded body is exactly its fields
            // and payload, so re-encoding gives back the same bytes.
            static std::vector<std::byte> again(kMaxFrame);
            const std::size_t n = encode_data_body(again, d, payload);
            if (n != f.body.size() || std::memcmp(again.data(), f.body.data(), n) != 0) __builtin_trap();
        }
        static std::vector<DataRun> runs(kMaxDataRuns); // version 4's run table (kFlagRuns)
        std::size_t n = 0;
        if (decode_data_runs_body(f.body, d, runs, n, payload) == Reject::kNone)
            sink = sink + touch(payload) + runs[n - 1].offset + runs[n - 1].length;
        // Coalesced commits (kFlagBatch): every entry it accepts is a valid DATA body of its own.
        static std::vector<DataBatchEntry> entries(kMaxBatchEntries);
        if (decode_data_batch(f.body, entries, n) == Reject::kNone)
            for (std::size_t i = 0; i < n; ++i) {
                const DataBatchEntry& e = entries[i];
                std::size_t k = 0;
                const Reject r = (e.flags & kFlagRuns) ? decode_data_runs_body(e.body, d, runs, k, payload)
                                                       : decode_data_body(e.body, d, payload);
                if (r != Reject::kNone) __builtin_trap();
                sink = sink + touch(payload);
            }
        break;
    }
    case FrameType::kAck: {
        AckBody a;
        (void)decode_ack_body(f.body, a);
        break;
    }
    case FrameType::kNack: {
        NackBody n;
        (void)decode_nack_body(f.body, n);
        break;
    }
    case FrameType::kHeartbeat: {
        HeartbeatBody h;
        (void)decode_heartbeat_body(f.body, h);
        break;
    }
    case FrameType::kHello: {
        HelloBody h;
        (void)decode_hello_body(f.body, h);
        break;
    }
    case FrameType::kAnnounce: {
        AnnounceBody a;
        if (decode_announce_body(f.body, a) == Reject::kNone)
            sink = sink + a.name.size() + touch(std::as_bytes(std::span(a.name)));
        break;
    }
    case FrameType::kSection: {
        SectionBody s;
        if (decode_section_body(f.body, s) == Reject::kNone) sink = sink + touch(s.id);
        break;
    }
    case FrameType::kHashes: {
        HashesBody h;
        if (decode_hashes_body(f.body, h) == Reject::kNone)
            for (std::uint32_t i = 0; i < h.count; ++i) sink = sink + hashes_at(h, i);
        break;
    }
    case FrameType::kResyncDone: {
        ResyncDoneBody r;
        (void)decode_resync_done_body(f.body, r);
        break;
    }
    case FrameType::kRefused: {
        RefusedBody r;
        (void)decode_refused_body(f.body, r);
        break;
    }
    }
    sink = sink + body_checkpoint_id(f.body);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const auto* in = reinterpret_cast<const std::byte*>(data + 1);
    const std::size_t n = size - 1;
    if (data[0] & 1) { // the wire as it comes, exact size
        std::vector<std::byte> frame(in, in + n);
        DecodedFrame f;
        if (decode_frame(frame, kDefaultUdpPort, f, &auth()) == Reject::kNone) bodies(f);
        ForeignVersion v;
        (void)identify_foreign_version(frame, kDefaultUdpPort, v, &auth());
        UdpDatagram u;
        (void)unwrap_udp_payload(frame, u);
        return 0;
    }
    // A frame with a valid tag: 12 bytes of header fields, then the body.
    if (n < 12) return 0;
    FrameHeader h;
    h.type = static_cast<FrameType>(1 + std::to_integer<unsigned>(in[0]) % kMaxFrameType);
    h.flags = static_cast<std::uint16_t>(std::to_integer<unsigned>(in[1]) & 3);
    h.src_node = 1;
    h.dst_node = 2;
    std::memcpy(&h.epoch, in + 2, 2);
    std::memcpy(&h.link_seq, in + 4, 8);
    const std::span<const std::byte> body(in + 12, n - 12);
    Endpoint s, d;
    std::vector<std::byte> frame(kMaxFrame);
    const std::size_t len = encode_frame_unsealed(frame, s, d, h, body);
    if (len == 0) return 0;
    frame.resize(len);
    if (!seal_frame(frame, auth(), 1, 7, 1 + h.link_seq % 1000)) __builtin_trap();
    DecodedFrame f;
    if (decode_frame(frame, kDefaultUdpPort, f, &auth()) != Reject::kNone) __builtin_trap(); // ours must pass
    bodies(f);
    return 0;
}
