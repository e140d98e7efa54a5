#include "in_process_node.hpp"

#include "ckpt/shm/atomics.hpp"
#include "ckpt/shm/dirty_bitmap.hpp"
#include "ckpt/shm/section_group.hpp"
#include "ckpt/shm/section_lock.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace ckpt::testing {

using namespace ckpt::engine;
using namespace ckpt::shm;

SegmentNames in_process_names(const std::string& prefix, const std::string& name) {
    const std::string stem = segment_stem(name);
    return {ObjectName{prefix + stem + ".meta"}, ObjectName{prefix + stem + ".data"},
            ObjectName{prefix + stem + ".shadow"}};
}

std::unique_ptr<Checkpoint> local_checkpoint(const std::string& tag, const CheckpointAttributes& attrs,
                                             std::uint16_t node_id) {
    const auto names = in_process_names("hs-" + tag + "." + std::to_string(::getpid()) + ".", "c");
    for (const auto* o : {&names.meta, &names.data, &names.shadow}) (void)remove_object(*o);
    auto c = Checkpoint::create("c", attrs, names, ObjectOptions{}, node_id);
    EXPECT_TRUE(c.ok()) << c.message();
    return c.ok() ? std::move(*c) : nullptr;
}

net::ClusterKey in_process_key(std::uint8_t id) {
    net::ClusterKey k;
    k.id = id;
    for (std::size_t i = 0; i < k.bytes.size(); ++i) k.bytes[i] = static_cast<unsigned char>(0xA5 ^ (i * 7) ^ id);
    return k;
}

InProcessNode::InProcessNode(std::uint16_t id, std::vector<std::uint16_t> peers,
                             std::unique_ptr<net::Transport> carrier, const std::int64_t& now, LinkConfig cfg)
    : id_(id), prefix_("hs-inproc." + std::to_string(::getpid()) + "." + std::to_string(id) + "."), now_(now) {
    cfg.node_id = id;
    cfg.transport = net::Carrier::kUdp; // what the frames' addresses look like; the carrier is ours
    cfg.peers.clear();
    for (std::uint16_t p : peers) cfg.peers.push_back(PeerConfig{p, 0, 0});
    // Authenticated as in production unless the test set up its own keys or auth = none.
    if (cfg.auth == AuthMode::kKey && cfg.auth_keys.empty() && cfg.auth_key_file.empty())
        cfg.auth_keys.push_back(in_process_key());
    // A random session per node object, as ckptd draws one per start: a node made again is a restart.
    cfg_ = cfg;
    link_ = PeerLink::over(cfg, net::random_u64(), std::move(carrier));
    repl_ = std::make_unique<Replicator>(*link_, *this, [this] { return now_; });
}

void InProcessNode::restart(std::unique_ptr<net::Transport> carrier) {
    repl_.reset();
    link_.reset();
    std::vector<std::string> names;
    for (auto& [name, c] : by_name_) names.push_back(name);
    by_name_.clear(); // unmaps (the objects stay)
    link_ = PeerLink::over(cfg_, 0x1000 + id_ + (++boots_ << 32), std::move(carrier));
    repl_ = std::make_unique<Replicator>(*link_, *this, [this] { return now_; });
    for (const auto& name : names) {
        auto c = Checkpoint::adopt(in_process_names(prefix_, name), 0600);
        EXPECT_TRUE(c.ok()) << c.message();
        if (!c) continue;
        std::shared_ptr<Checkpoint> cp(std::move(*c));
        by_name_[name] = cp;
        repl_->adopt(cp);
    }
}

InProcessNode::~InProcessNode() {
    for (auto& [name, c] : by_name_) {
        repl_->forget(c);
        c->remove_objects();
    }
    repl_.reset();
}

Result<std::shared_ptr<Checkpoint>> InProcessNode::make(const std::string& name, const CheckpointAttributes& attrs) {
    const SegmentNames names = in_process_names(prefix_, name);
    for (const auto* o : {&names.meta, &names.data, &names.shadow}) (void)remove_object(*o); // a crashed run's
    auto c = Checkpoint::create(name, attrs, names, ObjectOptions{}, id_);
    if (!c) return c.failure();
    std::shared_ptr<Checkpoint> cp(std::move(*c));
    by_name_[name] = cp;
    return cp;
}

std::shared_ptr<Checkpoint> InProcessNode::create(const std::string& name, const CheckpointAttributes& attrs) {
    auto c = make(name, attrs);
    if (!c) return nullptr;
    repl_->activate(*c);
    return *c;
}

std::shared_ptr<Checkpoint> InProcessNode::find(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Checkpoint>> InProcessNode::create_replica(const std::string& name,
                                                                  const CheckpointAttributes& attrs) {
    if (!fail_create_.empty()) return fail(Error::kNoResources, fail_create_);
    return make(name, attrs);
}

bool InProcessNode::logged(std::string_view text) const {
    for (const auto& l : log_)
        if (l.find(text) != std::string::npos) return true;
    return false;
}

void InProcessNode::unlink_replica(const std::shared_ptr<Checkpoint>& c) {
    c->remove_objects();
    by_name_.erase(c->name());
}

void InProcessNode::step() {
    link_->poll(now_);
    for (auto& [name, c] : by_name_)
        if (c->poll_commits()) c->publish_acks();
    repl_->pump();
    link_->flush(now_);
    repl_->settle(); // after the ACKs went out, as Engine::poll_commits does
    link_->tick(now_, static_cast<std::uint32_t>(by_name_.size()));
    for (auto& e : link_->take_events()) events_.push_back(std::move(e));
    repl_->tick(now_);
    link_->flush(now_);
}

void write_section(Checkpoint& c, std::uint32_t writer, std::uint32_t slot, std::uint64_t offset,
                   std::span<const std::byte> bytes, bool commit) {
    const auto info = c.meta().info(slot);
    if (!info) return;
    SectionControl& ctl = c.data().control(slot);
    std::uint64_t lock = section_lock::load(ctl);
    const std::uint64_t seq = lock_seq(lock);
    (void)section_lock::try_begin(ctl, lock, writer); // single-threaded: succeeds on the word just loaded
    std::memcpy(c.data().section_bytes(*info).data() + offset, bytes.data(), bytes.size());
    c.data().mark_dirty(*info, offset, bytes.size());
    if (!commit) return;
    const std::uint32_t bs = c.attributes().block_size;
    const std::uint64_t size = std::max<std::uint64_t>(load_relaxed(ctl.size), offset + bytes.size());
    store_relaxed(ctl.size, size);
    store_relaxed(ctl.commit_flags, 0u);
    dirty_bitmap::publish_range(ctl, offset / bs, (offset + bytes.size() - 1) / bs);
    section_group::leave(ctl);
    section_lock::publish(ctl, seq + 2);
    c.data().ring_doorbell(slot);
}

void write_group(Checkpoint& c, std::uint32_t writer, std::span<const std::uint32_t> slots, std::byte fill,
                 std::size_t publish) {
    static std::uint64_t ticket = 0;
    const std::uint64_t tag = section_group::make_tag(writer, ++ticket);
    const std::uint32_t bs = c.attributes().block_size;
    std::vector<std::uint64_t> seqs;
    for (std::uint32_t slot : slots) {
        const auto info = c.meta().info(slot);
        SectionControl& ctl = c.data().control(slot);
        std::uint64_t lock = section_lock::load(ctl);
        seqs.push_back(lock_seq(lock));
        (void)section_lock::try_begin(ctl, lock, writer);
        auto bytes = c.data().section_bytes(*info);
        std::memset(bytes.data(), static_cast<int>(fill), bytes.size());
        c.data().mark_dirty(*info, 0, bytes.size());
        store_relaxed(ctl.size, static_cast<std::uint64_t>(bytes.size()));
        store_relaxed(ctl.commit_flags, 0u);
        dirty_bitmap::publish_range(ctl, 0, (bytes.size() - 1) / bs);
    }
    for (std::size_t k = 0; k < slots.size(); ++k)
        section_group::join(c.data().control(slots[k]), tag, slots[(k + 1) % slots.size()],
                            static_cast<std::uint32_t>(slots.size()));
    for (std::size_t k = 0; k < publish && k < slots.size(); ++k)
        section_lock::publish(c.data().control(slots[k]), seqs[k] + 2);
    if (publish >= slots.size())
        for (std::uint32_t slot : slots) c.data().ring_doorbell(slot);
}

std::vector<std::byte> section_bytes(const Checkpoint& c, std::uint32_t slot) {
    const auto info = c.meta().info(slot);
    if (!info) return {};
    const auto all = c.data().section_bytes(*info);
    return {all.begin(), all.begin() + static_cast<std::ptrdiff_t>(std::min(info->committed_size, all.size()))};
}

} // namespace ckpt::testing
