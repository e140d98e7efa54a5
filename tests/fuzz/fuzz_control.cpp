// libFuzzer target: the control-message decoder (common/control_protocol.hpp) as ckptd reads a
// request: the header (op, version, id), then fields in the shapes the requests use (attributes,
// strings, byte strings, integers) chosen by the input itself, until the decoder reports the end
// or an error. Every length is checked before use: a short or oversized field only fails.
#include "ckpt/common/control_protocol.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

using namespace ckpt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    proto::Decoder d(std::span(reinterpret_cast<const std::byte*>(data), size));
    volatile std::uint64_t sink = d.u16() + d.u16() + d.u32();
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
