#include "replication/standby_side.hpp"

#include "crash/crash_points.hpp"
#include "replication/replica.hpp"

#include <xxhash.h>

#include <algorithm>

namespace ckpt::engine {

using namespace ckpt::net;

void StandbySide::reset(Replica& r) {
    r.standby.applier.discard();
    r.standby.rx_open = false;
}

void StandbySide::refuse(std::uint16_t node, const DecodedFrame& f, RefuseReason why, std::uint64_t epoch) {
    // Only what an acknowledgement would make the active believe: a commit's last fragment (its
    // completion), a section change, the end of a resync. An earlier fragment of a commit is
    // refused with its last one (fragments after a refused one never apply).
    if (f.header.type == FrameType::kData && !(f.header.flags & kFlagLastFragment)) return;
    RefusedBody b;
    b.checkpoint_id = body_checkpoint_id(f.body);
    b.reason = why;
    b.refused_type = f.header.type;
    b.refused_link_seq = f.header.link_seq;
    if (f.header.type == FrameType::kData) {
        DataBody d;
        std::span<const std::byte> payload;
        if (decode_data_body(f.body, d, payload) == Reject::kNone) b.commit_seq = d.commit_seq;
    }
    b.replica_epoch = epoch;
    std::byte body[kRefusedBody];
    const std::size_t n = encode_refused_body(body, b);
    // Queued before the ACK that covers the refused frame (which names it in sent_through).
    if (out_.queue(node, FrameType::kRefused, 0, epoch, {body, n})) ++counters_.refusals_sent;
}

void StandbySide::send_hashes(Replica& r) {
    Checkpoint& c = *r.ckpt;
    const std::size_t per_frame = (out_.link().max_data_payload() + kDataBodyFixed - kHashesBodyFixed) / 8;
    std::vector<std::uint32_t> used;
    for (std::uint32_t s = 0; s < c.max_sections(); ++s)
        if (c.section_state(s)) used.push_back(s);
    r.standby.resyncing = true; // until RESYNC_DONE
    HashesBody h;
    h.checkpoint_id = r.remote_wire_id;
    if (used.empty()) {
        h.slot = kNoSlot;
        const std::size_t n = encode_hashes_body(out_.body(), h, {});
        out_.queue(r.active_node, FrameType::kHashes, kFlagLastFragment, c.epoch(), out_.body().first(n));
        return;
    }
    for (std::size_t u = 0; u < used.size(); ++u) {
        const std::uint32_t slot = used[u];
        auto st = c.section_state(slot);
        const auto hashes = c.block_hashes(slot, true);
        h.slot = slot;
        h.generation = st->generation;
        h.data_offset = st->data_offset;
        h.capacity = st->capacity;
        h.id_hash = XXH3_64bits(st->id.data(), st->id.size());
        for (std::size_t first = 0; first < hashes.size(); first += per_frame) {
            const std::size_t cnt = std::min(per_frame, hashes.size() - first);
            h.first_block = static_cast<std::uint32_t>(first);
            const std::size_t n = encode_hashes_body(out_.body(), h, std::span(hashes).subspan(first, cnt));
            const bool last = u + 1 == used.size() && first + cnt == hashes.size();
            out_.queue(r.active_node, FrameType::kHashes, last ? kFlagLastFragment : 0, c.epoch(),
                       out_.body().first(n));
        }
    }
}

StandbySide::SectionResult StandbySide::on_section(Replica& r, const DecodedFrame& f) {
    SectionBody s;
    if (decode_section_body(f.body, s) != Reject::kNone) {
        ++counters_.bad_commits;
        return SectionResult::kBad;
    }
    SectionResult result = SectionResult::kApplied;
    Checkpoint& c = *r.ckpt;
    ReplicaApplier& a = r.standby.applier;
    switch (s.op) {
    case SectionOp::kInstall:
        if (auto st = a.install(s.slot, s.id, s.generation, s.data_offset, s.capacity, s.expiration_ns, s.seq, s.size);
            !st) {
            ++counters_.bad_commits;
            host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + st.message());
            result = SectionResult::kBad;
        }
        break;
    case SectionOp::kDelete:
        // A delete that found nothing to delete is not applied: this replica does not hold what
        // the active thinks it does. Refused, the active resyncs it.
        if (!a.remove(s.slot, s.generation)) {
            ++counters_.bad_commits;
            host_.replication_log("checkpoint '" + printable_name(c.name()) + "': delete of slot " +
                                  std::to_string(s.slot) + " (generation " + std::to_string(s.generation) +
                                  ") found no such section on this replica: refused");
            result = SectionResult::kBad;
        }
        break;
    case SectionOp::kExpiration:
        a.set_expiration(s.slot, s.generation, s.expiration_ns);
        break;
    case SectionOp::kUnlinkCheckpoint:
        host_.replication_log("checkpoint '" + printable_name(c.name()) + "' was deleted on its active " +
                              node_str(r.active_node));
        return SectionResult::kCheckpointDeleted;
    }
    c.publish_acks();
    return result;
}

bool StandbySide::on_data(Replica& r, const DecodedFrame& f) {
    DataBody d;
    std::span<const std::byte> payload;
    Checkpoint& c = *r.ckpt;
    StandbyState& rx = r.standby;
    if (decode_data_body(f.body, d, payload) != Reject::kNone) {
        ++counters_.bad_commits; // the frame hash passed, so this is a sender bug: never applied
        return false;
    }
    if (d.fragment == 0) {
        if (rx.rx_open) { // the previous commit never completed: it is void
            rx.applier.discard();
            ++counters_.bad_commits;
        }
        rx.rx_open = true;
        rx.rx_slot = d.slot;
        rx.rx_generation = d.generation;
        rx.rx_seq = d.commit_seq;
        rx.rx_next = 0;
    }
    if (!rx.rx_open || d.slot != rx.rx_slot || d.generation != rx.rx_generation || d.commit_seq != rx.rx_seq ||
        d.fragment != rx.rx_next || !rx.applier.stage(d.slot, d.generation, d.offset, payload)) {
        if (rx.rx_open) rx.applier.discard();
        rx.rx_open = false;
        ++counters_.bad_commits;
        return false;
    }
    ++rx.rx_next;
    if (!(f.header.flags & kFlagLastFragment)) return true;
    rx.rx_open = false;
    crash::hit(crash::Point::kStagedBeforeApply); // every fragment staged in SHADOW, DATA untouched
    const bool applied =
        rx.applier.apply(d.slot, d.generation, d.commit_seq, d.section_size, (f.header.flags & kFlagOverwrite) != 0);
    if (applied) {
        crash::hit(crash::Point::kAppliedBeforeAck); // applied; its ACK goes out at the next flush
        if (rx.resyncing) crash::hit(crash::Point::kMidResync);
        ++counters_.commits_applied;
        ++r.figures.commits_applied;
    } else {
        ++counters_.bad_commits;
    }
    c.publish_acks(); // hot-standby subscribers wake with the change
    return applied;
}

} // namespace ckpt::engine
