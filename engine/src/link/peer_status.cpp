#include "link/peer_status.hpp"

#include "ckpt/shm/stats_layout.hpp"

namespace ckpt::engine {

static_assert(static_cast<std::uint32_t>(PeerState::kUnknown) == shm::kPeerUnknown &&
              static_cast<std::uint32_t>(PeerState::kUp) == shm::kPeerUp &&
              static_cast<std::uint32_t>(PeerState::kDown) == shm::kPeerDown &&
              static_cast<std::uint32_t>(PeerState::kIncompatible) == shm::kPeerIncompatible);

const char* peer_state_name(PeerState s) {
    return shm::peer_state_name(static_cast<std::uint32_t>(s)).data(); // a literal: NUL-terminated
}

} // namespace ckpt::engine
