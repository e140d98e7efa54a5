// The replicator's figures for the stats region (ckptstat): per checkpoint and per required
// standby, what it has not applied yet and since when. Timer path, kept apart from the commit
// path in replicator.cpp; the counters themselves are bumped there, next to the global ones.
#include "replication/replicator.hpp"

namespace ckpt::engine {

void Replicator::refresh_lag_figures() {
    for (auto& rp : repls_) {
        Repl& r = *rp;
        CheckpointFigures& f = r.figures;
        f.peer_count = 0;
        if (r.ckpt->role() != shm::kRoleActive) continue;
        for (const auto& [node, m] : r.members) {
            if (!m.required || f.peer_count == shm::kStatsMaxPeers) continue;
            shm::PeerLag& l = f.peers[f.peer_count++];
            l = {};
            l.node_id = node;
            l.state = m.state == MemberState::kInSync && m.barrier.empty() ? shm::kMemberInSync
                      : m.state == MemberState::kDown                      ? shm::kMemberDown
                                                                           : shm::kMemberResync;
        }
    }
    // pending_ is in commit order, so the first commit a standby waits for is its oldest.
    for (const auto& [id, p] : pending_) {
        CheckpointFigures& f = p.repl->figures;
        for (std::uint16_t node : p.waiting) {
            for (std::uint32_t i = 0; i < f.peer_count; ++i) {
                shm::PeerLag& l = f.peers[i];
                if (l.node_id != node) continue;
                ++l.commits;
                l.bytes += p.bytes;
                if (l.oldest_mono_ns == 0) l.oldest_mono_ns = p.captured_ns;
                break;
            }
        }
    }
}

} // namespace ckpt::engine
