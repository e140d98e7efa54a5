#include "in_process_pair.hpp"

#include <unistd.h>

namespace ckpt::testing {

CheckpointAttributes pair_attrs(UpdateMode mode) {
    CheckpointAttributes attrs;
    attrs.creation_flags = static_cast<std::uint32_t>(mode);
    attrs.checkpoint_size = 64 * 1024;
    attrs.max_sections = 4;
    attrs.max_section_size = 16 * 1024;
    attrs.block_size = 256;
    return attrs;
}

bool InProcessPair::start_pair(Options o) {
    auto [ca, cb] = MemoryCarrier::pair(1, 2);
    wire_a_ = ca.get();
    wire_b_ = cb.get();
    wire_a_->record(o.record_a);
    wire_b_->record(o.record_b);
    std::unique_ptr<net::Transport> ta, tb;
    if (o.wrap) {
        ta = o.wrap(std::move(ca), 1);
        tb = o.wrap(std::move(cb), 2);
    } else {
        ta = std::move(ca);
        tb = std::move(cb);
    }
    a_ = std::make_unique<InProcessNode>(1, std::vector<std::uint16_t>{2}, std::move(ta), now_, o.link_a);
    b_ = std::make_unique<InProcessNode>(2, std::vector<std::uint16_t>{1}, std::move(tb), now_, o.link_b);
    if (run_until([&] { return a_->link().is_up(2) && b_->link().is_up(1); }, o.link_up_ms)) return true;
    failure_ = "the links did not come up";
    return false;
}

bool InProcessPair::start_pair(const net::FaultConfig& fault_a, const net::FaultConfig& fault_b) {
    Options o;
    o.wrap = [&, this](std::unique_ptr<MemoryCarrier> c, std::uint16_t node) -> std::unique_ptr<net::Transport> {
        const net::FaultConfig& f = node == 1 ? fault_a : fault_b;
        if (!f.enabled()) return c;
        return std::make_unique<net::FaultShim>(std::move(c), f, [this] { return now_; });
    };
    return start_pair(std::move(o));
}

void InProcessPair::step(std::int64_t dt) {
    a_->step();
    b_->step();
    if (each_step_) each_step_();
    now_ += dt;
}

bool InProcessPair::run_turns(const std::function<bool()>& done, long turns) {
    for (long i = 0; i < turns; ++i) {
        if (done()) return true;
        step();
    }
    return done();
}

void InProcessPair::run_for(int ms) {
    const std::int64_t until = now_ + ms * kMs;
    run_until([&] { return now_ >= until; }, ms + 1);
}

bool InProcessPair::create_replicated(const std::string& name, const CheckpointAttributes& attrs,
                                      std::uint64_t capacity, int limit_ms) {
    active_ = a_->create(name, attrs);
    if (!active_) {
        failure_ = "node 1 cannot create '" + name + "'";
        return false;
    }
    auto created = active_->create_section(bytes_of("s"), false, kTimeEnd, capacity, {});
    if (!created.ok()) {
        failure_ = "create_section: " + created.message();
        return false;
    }
    slot_ = created->slot;
    auto w = active_->attach_writer(::getpid(), engine::process_start_time(::getpid()));
    if (!w.ok()) {
        failure_ = "attach_writer: " + w.message();
        return false;
    }
    writer_ = *w;
    if (run_until(
            [&] {
                standby_ = b_->find(name);
                return standby_ && standby_->section_state(slot_).has_value();
            },
            limit_ms))
        return true;
    failure_ = "node 2 did not get the replica of '" + name + "'";
    return false;
}

std::uint64_t InProcessPair::commit(std::uint64_t offset, std::span<const std::byte> bytes) {
    write_section(*active_, writer_, slot_, offset, bytes);
    return seq_of(*active_, slot_); // the lock's (even) sequence is the commit's
}

bool InProcessPair::acked(std::uint64_t seq, int limit_ms) {
    return run_until([&] { return acked_of(*active_, slot_) >= seq; }, limit_ms);
}

} // namespace ckpt::testing
