#include "replication/standby_side.hpp"

#include "crash/crash_points.hpp"
#include "replication/replica.hpp"

#include <xxhash.h>

#include <algorithm>
#include <array>

namespace ckpt::engine {

using namespace ckpt::net;

void StandbySide::interrupt_group(Replica& r) {
    if (!r.standby.applier.holding_group()) return;
    // The active sends a group's members back to back; anything else in between voids it.
    r.standby.applier.discard();
    ++link_counts_.bad_commits;
}

void StandbySide::reset(Replica& r) {
    r.standby.applier.discard();
    r.standby.applier.settle(); // a promotion: the shadow is the committed copy from now on
    r.standby.rx_open = false;
    r.standby.reporting = false;
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
        std::size_t k = 0;
        if ((f.header.flags & kFlagBatch) && decode_data_batch(f.body, batch_, k) == Reject::kNone) {
            // A batch refused whole (unknown checkpoint, stale epoch, ...): its first commit is named.
            DecodedFrame one = f;
            one.header.flags = batch_[0].flags;
            one.body = batch_[0].body;
            return refuse(node, one, why, epoch);
        }
        std::array<DataRun, kMaxDataRuns> runs;
        std::size_t n = 0;
        const Reject r = (f.header.flags & kFlagRuns) ? decode_data_runs_body(f.body, d, runs, n, payload)
                                                      : decode_data_body(f.body, d, payload);
        if (r == Reject::kNone) b.commit_seq = d.commit_seq; // named in the active's log line
    }
    b.replica_epoch = epoch;
    std::byte body[kRefusedBody];
    const std::size_t n = encode_refused_body(body, b);
    // Queued before the ACK that covers the refused frame (which names it in sent_through).
    if (out_.queue(node, FrameType::kRefused, 0, epoch, {body, n})) ++link_counts_.refusals_sent;
}

void StandbySide::send_hashes(Replica& r, std::uint64_t join) {
    Checkpoint& c = *r.ckpt;
    StandbyState& st = r.standby;
    st.resyncing = true; // until RESYNC_DONE
    st.reporting = true;
    st.report_join = join;
    st.report_slot = 0;
    bool any = false;
    for (std::uint32_t s = 0; s < c.max_sections(); ++s)
        if (c.section_state(s)) {
            st.report_last = s;
            any = true;
        }
    if (!any) st.report_slot = c.max_sections(); // report_step says "nothing here" at once
    report_step(r);
}

std::size_t StandbySide::report_step(Replica& r) {
    Checkpoint& c = *r.ckpt;
    StandbyState& st = r.standby;
    if (!st.reporting) return 0;
    const std::size_t per_frame = (out_.link().max_data_payload() + kDataBodyFixed - kHashesBodyFixed) / 8;
    const std::size_t window = out_.link().config().stream.window;
    constexpr std::uint64_t kBudget = std::uint64_t{4} << 20; // bytes hashed per turn (at least one section)
    HashesBody h;
    h.checkpoint_id = r.remote_wire_id;
    h.join = st.report_join;
    std::uint64_t hashed = 0;
    std::size_t n_sections = 0;
    for (; st.report_slot < c.max_sections(); ++st.report_slot) {
        // Between sections: this turn's budget, and the frames already waiting for the active
        // (a report of 1 GiB in 256-byte blocks is 32 MiB of HASHES: it goes as the link drains).
        if (hashed >= kBudget || out_.link().backlog(r.active_node) >= window) return n_sections;
        const std::uint32_t slot = st.report_slot;
        auto sec = c.section_state(slot);
        if (!sec) continue;
        const auto hashes = c.block_hashes(slot, true);
        hashed += sec->capacity;
        ++n_sections;
        h.slot = slot;
        h.generation = sec->generation;
        h.data_offset = sec->data_offset;
        h.capacity = sec->capacity;
        h.id_hash = XXH3_64bits(sec->id.data(), sec->id.size());
        for (std::size_t first = 0; first < hashes.size(); first += per_frame) {
            const std::size_t cnt = std::min(per_frame, hashes.size() - first);
            h.first_block = static_cast<std::uint32_t>(first);
            const std::size_t n = encode_hashes_body(out_.body(), h, std::span(hashes).subspan(first, cnt));
            const bool last = slot == st.report_last && first + cnt == hashes.size();
            out_.queue(r.active_node, FrameType::kHashes, last ? kFlagLastFragment : 0, c.epoch(),
                       out_.body().first(n));
            if (last) st.reporting = false;
        }
        if (!st.reporting) return n_sections;
    }
    // The end, with no flagged frame sent (no section, or the last one went away meanwhile):
    // "nothing more", so that the active does not wait for a last fragment that never comes.
    h.slot = kNoSlot;
    const std::size_t n = encode_hashes_body(out_.body(), h, {});
    out_.queue(r.active_node, FrameType::kHashes, kFlagLastFragment, c.epoch(), out_.body().first(n));
    st.reporting = false;
    return n_sections;
}

StandbySide::SectionResult StandbySide::on_section(Replica& r, const DecodedFrame& f) {
    SectionBody s;
    if (decode_section_body(f.body, s) != Reject::kNone) {
        ++link_counts_.bad_commits;
        return SectionResult::kBad;
    }
    SectionResult result = SectionResult::kApplied;
    Checkpoint& c = *r.ckpt;
    ReplicaApplier& a = r.standby.applier;
    switch (s.op) {
    case SectionOp::kInstall:
        if (auto st = a.install(s.slot, s.id, s.generation, s.data_offset, s.capacity, s.expiration_ns, s.seq, s.size);
            !st) {
            ++link_counts_.bad_commits;
            host_.replication_log("checkpoint '" + printable_name(c.name()) + "': " + st.message());
            result = SectionResult::kBad;
        }
        break;
    case SectionOp::kDelete:
        // A delete that found nothing to delete is not applied: this replica does not hold what
        // the active thinks it does. Refused, the active resyncs it.
        if (!a.remove(s.slot, s.generation)) {
            ++link_counts_.bad_commits;
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

bool StandbySide::on_batch(Replica& r, const DecodedFrame& f) {
    // Several one-frame commits coalesced by the active (docs/PROTOCOL.md, "Batches"): the whole
    // body is checked first, then each entry goes through on_data as the frame of its own it
    // would otherwise have been (all or nothing per commit, in order); an entry not applied is
    // refused by itself (REFUSED names its commit), the others are applied as they would be.
    std::size_t n = 0;
    if (decode_data_batch(f.body, batch_, n) != Reject::kNone) {
        ++link_counts_.bad_commits; // the frame's tag held, so this is a sender bug: nothing applied
        return false;
    }
    for (std::size_t i = 0; i < n; ++i) {
        DecodedFrame one = f;
        one.header.flags = batch_[i].flags;
        one.body = batch_[i].body;
        // No buffer to hold: each entry is a whole commit inside a frame shared with others, staged
        // and applied at once (the held-buffer path is for commits of several frames).
        if (!on_data(r, one, nullptr)) refuse(r.active_node, one, RefuseReason::kBadCommit, r.ckpt->epoch());
    }
    return true;
}

bool StandbySide::on_data(Replica& r, const DecodedFrame& f, FrameBuf* buffer) {
    if (f.header.flags & kFlagBatch) return on_batch(r, f);
    DataBody d;
    std::span<const std::byte> payload;
    Checkpoint& c = *r.ckpt;
    StandbyState& rx = r.standby;
    // A frame of several runs (kFlagRuns, e.g. a resync's scattered blocks) or of one.
    std::span<DataRun> runs = runs_;
    std::size_t nruns = 1;
    const bool multi = (f.header.flags & kFlagRuns) != 0;
    if ((multi ? decode_data_runs_body(f.body, d, runs, nruns, payload) : decode_data_body(f.body, d, payload)) !=
        Reject::kNone) {
        ++link_counts_.bad_commits; // the frame's tag held, so this is a sender bug: never applied
        return false;
    }
    if (!multi) runs[0] = DataRun{d.offset, d.length};
    auto stage_all = [&] { return rx.applier.receive(d.slot, d.generation, runs.first(nruns), payload, buffer); };
    if (d.fragment == 0) {
        if (rx.rx_open) { // the previous commit never completed: it is void
            rx.applier.discard();
            ++link_counts_.bad_commits;
        }
        rx.rx_open = true;
        rx.rx_slot = d.slot;
        rx.rx_generation = d.generation;
        rx.rx_seq = d.commit_seq;
        rx.rx_next = 0;
    }
    if (!rx.rx_open || d.slot != rx.rx_slot || d.generation != rx.rx_generation || d.commit_seq != rx.rx_seq ||
        d.fragment != rx.rx_next || !stage_all()) {
        if (rx.rx_open) rx.applier.discard();
        rx.rx_open = false;
        ++link_counts_.bad_commits;
        return false;
    }
    ++rx.rx_next;
    if (!(f.header.flags & kFlagLastFragment)) return true;
    rx.rx_open = false;
    const bool overwrite = (f.header.flags & kFlagOverwrite) != 0;
    if (f.header.flags & kFlagGroupMore) {
        // A write group's member with more to come: staged whole, applied with the group's last.
        if (rx.applier.hold(d.slot, d.generation, d.commit_seq, d.section_size, overwrite)) return true;
        ++link_counts_.bad_commits; // the group is void (discarded); refused, the active resyncs us
        return false;
    }
    crash::hit(rx.applier.holding_group()
                   ? crash::Point::kGroupStagedBeforeApply
                   : crash::Point::kStagedBeforeApply); // held (or staged in SHADOW), DATA untouched
    const bool applied = rx.applier.apply(d.slot, d.generation, d.commit_seq, d.section_size, overwrite);
    if (applied) {
        crash::hit(crash::Point::kAppliedBeforeAck); // applied; its ACK goes out at the next flush
        if (rx.resyncing) crash::hit(crash::Point::kMidResync);
        ++totals_.commits_applied;
        ++r.ckpt->counters().commits_applied;
    } else {
        ++link_counts_.bad_commits;
    }
    c.publish_acks(); // hot-standby subscribers wake with the change
    return applied;
}

} // namespace ckpt::engine
