// libFuzzer target: the replication handlers (issue 13), reached through the in-process harness
// (tests/testing/in_process_node): two engines' cores over an in-memory carrier pair, node 1
// active for a sync checkpoint, node 2 holding its replica. The fuzzer plays an authenticated
// peer that has gone wrong (it holds the cluster key, so what it sends passes the MAC, the session
// and the replay checks): the input is a script of
//   - sequenced bodies (DATA, ANNOUNCE, SECTION, HASHES, RESYNC_DONE, REFUSED) sent through the
//     genuine sender's reliable stream, so they reach the handlers in order;
//   - unsequenced frames (ACK, NACK, HEARTBEAT, HELLO) sealed with the key, the sender's session
//     and the next counter the receiver accepts, put on the wire in front of the genuine ones;
//   - genuine frames recorded from the wire, their header or body mutated, sent again;
//   - the writer's commits, section creates and deletes on the active, promotions and
//     demotions, turns of both loops and jumps of the clock (timeouts, retransmissions).
// Found: a crash, a leak, undefined behaviour, an engine assertion (CKPT_ENFORCE aborts). After
// the script, both nodes run on until quiet; nothing is asserted about who won, only that the
// engines survive whatever an authenticated peer sends.
#include "ckpt/net/frame_auth.hpp"
#include "ckpt/net/wire_format.hpp"
#include "in_process_pair.hpp"

#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace ckpt;
using namespace ckpt::engine;
using namespace ckpt::net;
using namespace ckpt::testing;

namespace {

FrameAuth& cluster_auth() {
    static FrameAuth* a = [] {
        auto* x = new FrameAuth;
        if (!x->add_key(in_process_key()).empty()) __builtin_trap();
        return x;
    }();
    return *a;
}

/// Node 1 active for a synchronous checkpoint, node 2 holding its replica, both wires recorded.
struct Pair : InProcessPair {
    void turns(int n, std::int64_t dt = kMs / 10) {
        for (int i = 0; i < n; ++i) step(dt);
    }
    bool start() {
        Options o;
        o.record_a = o.record_b = true;
        o.link_up_ms = 200;
        if (!start_pair(std::move(o)) || !create_replicated("fz", pair_attrs(), 8192, 200)) return false;
        return acked(commit(0, bytes_of("genuine")), 200);
    }
};

/// A frame from `src` to `dst` with a valid tag under the cluster key, the sender's genuine
/// session and the next counter the receiver's replay window accepts.
std::vector<std::byte> sealed(Pair& p, std::uint16_t src, std::uint16_t dst, const FrameHeader& h,
                              std::span<const std::byte> body) {
    Endpoint s, d;
    s.mac = node_mac(src);
    d.mac = node_mac(dst);
    s.ip = default_ip(src);
    d.ip = default_ip(dst);
    std::vector<std::byte> f(kMaxFrame);
    f.resize(encode_frame_unsealed(f, s, d, h, body));
    if (f.empty()) return f;
    std::uint64_t counter = 1;
    for (const auto& peer : p.node(dst).link().peers())
        if (peer.node_id == src) counter = peer.replay.highest() + 1;
    if (!seal_frame(f, cluster_auth(), 1, p.node(src).link().session(), counter)) f.clear();
    return f;
}

std::uint64_t pick_epoch(FuzzedDataProvider& in, std::uint64_t genuine) {
    switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0:
        return genuine;
    case 1:
        return genuine + in.ConsumeIntegralInRange<std::uint64_t>(1, 3) * (1u << 16);
    case 2:
        return genuine - std::min<std::uint64_t>(genuine, 1u << 16);
    default:
        return in.ConsumeIntegral<std::uint64_t>();
    }
}

constexpr FrameType kSequenced[] = {FrameType::kData,   FrameType::kAnnounce,   FrameType::kSection,
                                    FrameType::kHashes, FrameType::kResyncDone, FrameType::kRefused};
constexpr FrameType kUnsequenced[] = {FrameType::kAck, FrameType::kNack, FrameType::kHeartbeat, FrameType::kHello};

/// Header and body of a recorded frame (as the wire carried it), or false when it does not decode.
bool split(const std::vector<std::byte>& frame, FrameHeader& h, std::vector<std::byte>& body) {
    DecodedFrame f;
    if (decode_frame(frame, kDefaultUdpPort, f, &cluster_auth()) != Reject::kNone) return false;
    h = f.header;
    body.assign(f.body.begin(), f.body.end());
    return true;
}

void run(FuzzedDataProvider& in) {
    Pair p;
    if (!p.start()) __builtin_trap(); // the harness itself must come up: anything else is a bug
    std::size_t ops = 0;
    while (in.remaining_bytes() > 0 && ops++ < 64) {
        const std::uint8_t op = in.ConsumeIntegral<std::uint8_t>();
        const std::uint16_t dst = (op & 1) ? 2 : 1, src = dst == 1 ? 2 : 1;
        const std::uint64_t epoch = p.active_->epoch();
        switch ((op >> 1) % 8) {
        case 0: { // a sequenced body through the genuine sender's stream
            const FrameType t = kSequenced[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kSequenced) - 1)];
            const auto flags = in.ConsumeIntegral<std::uint16_t>();
            const std::uint64_t e = pick_epoch(in, epoch);
            const auto body = in.ConsumeBytes<std::byte>(in.ConsumeIntegralInRange<std::size_t>(0, 1500));
            (void)p.node(src).link().send_sequenced(dst, t, flags, e, body);
            break;
        }
        case 1: { // an unsequenced frame, sealed, in front of the genuine traffic
            FrameHeader h;
            h.type = kUnsequenced[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kUnsequenced) - 1)];
            h.flags = in.ConsumeIntegral<std::uint16_t>();
            h.src_node = src;
            h.dst_node = dst;
            h.epoch = pick_epoch(in, epoch);
            const auto body = in.ConsumeBytes<std::byte>(in.ConsumeIntegralInRange<std::size_t>(0, 256));
            auto f = sealed(p, src, dst, h, body);
            if (!f.empty()) p.wire_to(dst).inject(std::move(f));
            break;
        }
        case 2:
        case 3: { // a genuine frame the receiver already had, mutated, sent again
            const auto& rec = p.wire_to(dst).recorded();
            if (rec.empty()) break;
            FrameHeader h;
            std::vector<std::byte> body;
            if (!split(rec[in.ConsumeIntegralInRange<std::size_t>(0, rec.size() - 1)], h, body)) break;
            for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0 && !body.empty(); --n)
                body[in.ConsumeIntegralInRange<std::size_t>(0, body.size() - 1)] =
                    std::byte{in.ConsumeIntegral<std::uint8_t>()};
            if (in.ConsumeBool()) body.resize(in.ConsumeIntegralInRange<std::size_t>(0, body.size() + 64));
            if (in.ConsumeBool()) h.flags ^= in.ConsumeIntegral<std::uint16_t>();
            if (in.ConsumeBool()) h.epoch = pick_epoch(in, h.epoch);
            if (is_sequenced(h.type)) {
                (void)p.node(src).link().send_sequenced(dst, h.type, h.flags, h.epoch, body);
            } else {
                auto f = sealed(p, src, dst, h, body);
                if (!f.empty()) p.wire_to(dst).inject(std::move(f));
            }
            break;
        }
        case 4: { // the writer commits
            if (!p.active_->meta().info(p.slot_)) break;
            const auto off = in.ConsumeIntegralInRange<std::uint64_t>(0, 8000);
            auto bytes = in.ConsumeBytes<std::byte>(in.ConsumeIntegralInRange<std::size_t>(1, 192));
            if (bytes.empty() || off + bytes.size() > 8192) break;
<<<<<<< HEAD
            if (shm::lock_held(shm::load_acquire(p.active_->data().control(p.slot_).lock))) break; // a write left open
            write_section(*p.active_, p.writer_, p.slot_, off, bytes, in.ConsumeIntegralInRange<int>(0, 15) != 0);
=======
            if (shm::lock_held(shm::section_lock::load(p.active->data().control(p.slot)))) break; // a write left open
            write_section(*p.active, p.writer, p.slot, off, bytes, in.ConsumeIntegralInRange<int>(0, 15) != 0);
>>>>>>> shm
            break;
        }
        case 5: { // a section created or deleted on the active
            const std::string id = "x" + std::to_string(in.ConsumeIntegralInRange<int>(0, 3));
            if (in.ConsumeBool())
                (void)p.active_->create_section(bytes_of(id), false, kTimeEnd, 1024, {});
            else
                (void)p.active_->delete_section(bytes_of(id));
            break;
        }
        case 6: { // the operator promotes or demotes, on either node
            auto c = p.node(src).find("fz");
            if (!c) break;
            if (in.ConsumeBool())
                (void)p.node(src).replicator().promote(c);
            else
                (void)p.node(src).replicator().demote(c);
            break;
        }
        default: // time passes: a few turns, or a jump past timeouts and retransmissions
            p.turns(in.ConsumeIntegralInRange<int>(1, 40), in.ConsumeBool() ? kMs / 10 : 50 * kMs);
            break;
        }
        p.turns(3);
    }
    p.turns(400); // settle: whatever was queued is sent, acknowledged, retransmitted or refused
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    run(in);
    return 0;
}
