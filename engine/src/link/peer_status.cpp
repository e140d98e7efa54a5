#include "link/peer_status.hpp"

namespace ckpt::engine {

const char* peer_state_name(PeerState s) {
    switch (s) {
    case PeerState::kUnknown:
        return "unknown";
    case PeerState::kUp:
        return "up";
    case PeerState::kDown:
        return "down";
    case PeerState::kIncompatible:
        return "incompatible";
    }
    return "?";
}

} // namespace ckpt::engine
