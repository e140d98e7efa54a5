// libFuzzer target: the control-message decoder (common/control_protocol.hpp) as ckptd reads a
// request: the header (op, version, id), then fields in the shapes the requests use (attributes,
// strings, byte strings, integers) chosen by the input itself, until the decoder reports the end
// or an error. Then the body after the header as the typed request of the header's op
// (common/control_messages.hpp), as ckptd's dispatcher decodes it, and as that op's reply, as
// libckpt decodes it. Every length is checked before use: a short or oversized field only fails.
#include "ckpt/common/control_messages.hpp"
#include "ckpt/common/control_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

using namespace ckpt;

namespace {

/// Decodes `body` as the request Req and as its reply; both must fail or succeed, never crash.
template <typename Req>
std::uint64_t decode_as(std::span<const std::byte> body) {
    proto::Decoder dr(body);
    auto req = Req::decode(dr);
    proto::Decoder dp(body);
    std::vector<Fd> no_fds; // a reply that carries descriptors is then malformed, after its body
    auto rep = proto::decode_reply<typename Req::Reply>(dp, no_fds);
    return (req.ok() ? 1u : 0u) + (rep.ok() ? 2u : 0u);
}

std::uint64_t decode_typed(proto::Op op, std::span<const std::byte> body) {
    using namespace ckpt::proto;
    switch (op) {
    case Op::kHello:
        return decode_as<HelloRequest>(body);
    case Op::kOpen:
        return decode_as<OpenRequest>(body);
    case Op::kClose:
        return decode_as<CloseRequest>(body);
    case Op::kUnlink:
        return decode_as<UnlinkRequest>(body);
    case Op::kStatus:
        return decode_as<StatusRequest>(body);
    case Op::kSectionCreate:
        return decode_as<SectionCreateRequest>(body);
    case Op::kSectionDelete:
        return decode_as<SectionDeleteRequest>(body);
    case Op::kSectionExpiration:
        return decode_as<SectionExpirationRequest>(body);
    case Op::kSubscribe:
        return decode_as<SubscribeRequest>(body);
    case Op::kList:
        return decode_as<ListRequest>(body);
    case Op::kInspect:
        return decode_as<InspectRequest>(body);
    case Op::kRollback:
        return decode_as<RollbackRequest>(body);
    case Op::kPromote:
        return decode_as<PromoteRequest>(body);
    case Op::kDemote:
        return decode_as<DemoteRequest>(body);
    case Op::kRetention:
        return decode_as<RetentionRequest>(body);
    case Op::kReserve:
        return decode_as<ReserveRequest>(body);
    case Op::kDirectory:
        return decode_as<DirectoryRequest>(body);
    case Op::kStats:
        return decode_as<StatsRequest>(body);
    case Op::kActivate:
        return decode_as<ActivateRequest>(body);
    case Op::kPeers:
        break;
    }
    return 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
    proto::Decoder d(in);
    const auto op = static_cast<proto::Op>(d.u16());
    volatile std::uint64_t sink = d.u16() + d.u32();
    if (size >= 8) sink = sink + decode_typed(op, in.subspan(8));
    for (int i = 0; i < 64 && d.ok() && !d.at_end(); ++i) {
        switch (d.u8() % 7) {
        case 0:
            sink = sink + d.attrs().checkpoint_size;
            break;
        case 1:
            sink = sink + d.str().size();
            break;
        case 2: {
            auto b = d.bytes();
            for (std::byte x : b) sink = sink + std::to_integer<unsigned>(x);
            break;
        }
        case 3:
            sink = sink + d.u64();
            break;
        case 4:
            sink = sink + static_cast<std::uint64_t>(d.i64());
            break;
        case 5:
            sink = sink + d.u32();
            break;
        default:
            sink = sink + static_cast<std::uint64_t>(d.i32());
            break;
        }
    }
    return 0;
}
