#include "daemon/registry.hpp"

#include "ckpt/common/clock.hpp"
#include "ckpt/shm/atomics.hpp"
#include "daemon/fs_util.hpp"
#include "replication/replicator.hpp"

#include <dirent.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace ckpt::engine {

std::int64_t retention_deadline(std::int64_t now_ns, std::int64_t retention_ns, std::int64_t floor_ns) {
    std::int64_t at = 0;
    if (retention_ns >= kTimeEnd || __builtin_add_overflow(now_ns, retention_ns, &at)) return 0;
    at = std::max(at, floor_ns);
    return at == 0 ? 1 : at; // 0 is "no deadline"
}

using namespace ckpt::shm;

namespace {
bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}
} // namespace

SegmentNames Registry::stem_names(const std::string& stem, bool persistent) const {
    auto one = [&](const char* suffix) {
        ObjectName o;
        o.is_file = persistent;
        o.name = persistent ? cfg_.state_dir + "/" + cfg_.shm_prefix + stem + suffix : cfg_.shm_prefix + stem + suffix;
        return o;
    };
    return SegmentNames{one(".meta"), one(".data"), one(".shadow")};
}

SegmentNames Registry::segment_names(const std::string& name, bool persistent) const {
    return stem_names(segment_stem(name), persistent);
}

void Registry::adopt_existing(int epoll_fd) {
    std::set<std::string> adopted_stems;
    auto scan = [&](const std::string& dir, bool persistent) {
        DIR* d = ::opendir(dir.c_str());
        if (!d) return;
        while (dirent* e = ::readdir(d)) {
            std::string f = e->d_name;
            if (f.rfind(cfg_.shm_prefix, 0) != 0 || !ends_with(f, ".meta")) continue;
            // The file names a stem (segment_stem); the checkpoint's own name is in its META.
            const std::string stem = f.substr(cfg_.shm_prefix.size(), f.size() - cfg_.shm_prefix.size() - 5);
            if (adopted_stems.count(stem)) continue;
            auto c = Checkpoint::adopt(stem_names(stem, persistent), cfg_.segment_mode);
            if (!c) {
                log_.log("cannot adopt segment %s (%s): %s", f.c_str(), std::string(error_name(c.error())).c_str(),
                         c.message().c_str());
                continue;
            }
            std::shared_ptr<Checkpoint> cp(std::move(*c));
            const std::string name = cp->name();
            if (segment_stem(name) != stem || cp->attributes().persistent() != persistent || by_name_.count(name)) {
                log_.log("segment %s names checkpoint '%s': not adopted", f.c_str(), printable_name(name).c_str());
                continue;
            }
            adopted_stems.insert(stem);
            for (auto [slot, pid] : cp->orphan_writers()) {
                Fd pfd(pidfd_open(pid));
                if (!pfd.valid()) {
                    cp->release_writer(slot);
                    continue;
                }
                epoll_event ev{};
                ev.events = EPOLLIN;
                ev.data.fd = pfd.get();
                if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, pfd.get(), &ev) != 0) {
                    // Unwatched, its exit would go unnoticed and the slot stay held: release it now
                    // (the writer gets a new slot when it reconnects).
                    log_.log("checkpoint '%s': cannot watch writer pid %d from before the restart (epoll_ctl: %s); "
                             "releasing its slot %u",
                             printable_name(name).c_str(), static_cast<int>(pid), std::strerror(errno), slot);
                    cp->release_writer(slot);
                    continue;
                }
                int key = pfd.get();
                cp->open_count++; // the surviving writer still holds it open
                orphans_.emplace(key, Orphan{cp, slot, std::move(pfd)});
            }
            if (cp->open_count == 0)
                cp->retention_deadline_ns = retention_deadline(mono_ns(), cp->retention_ns(), grace_until_ns_);
            log_.log("adopted checkpoint '%s' (%u sections, commit seq %lu%s)", printable_name(name).c_str(),
                     cp->meta().section_count(), static_cast<unsigned long>(cp->meta().commit_seq()),
                     cp->damage().empty() ? "" : ", damaged");
            by_name_[name] = cp;
            all_.push_back(cp);
            if (repl_)
                repl_->adopt(cp);
            else
                cp->release_held_acks(); // no peers configured now: nothing to wait for
        }
        ::closedir(d);
    };
    scan("/dev/shm", false);
    scan(cfg_.state_dir, true);
}

Result<std::shared_ptr<Checkpoint>> Registry::create_checkpoint(const std::string& name,
                                                                const CheckpointAttributes& a) {
    if (a.persistent()) CKPT_TRY(make_dirs(cfg_.state_dir, 0700));
    auto names = segment_names(name, a.persistent());
    // Leftovers of a crash during an earlier create (no magic, never adopted) would block O_EXCL.
    for (const auto* o : {&names.meta, &names.data, &names.shadow}) {
        if (auto fd = open_object(*o, false, 0777); fd.ok()) {
            auto m = Mapping::map(fd->get(), sizeof(MetaHeader), false);
            if (o == &names.meta && m && MetaView::classify(m->data(), m->size()) == HeaderState::kReady)
                return fail(Error::kExist, "segment " + o->describe() + " exists but is not adopted by this engine");
            (void)remove_object(*o);
        }
    }
    CKPT_TRY_ASSIGN(c, Checkpoint::create(name, a, names, ObjectOptions{cfg_.segment_mode, cfg_.segment_gid},
                                          cfg_.node_id, cfg_.local_stage));
    std::shared_ptr<Checkpoint> cp(std::move(c));
    by_name_[name] = cp;
    all_.push_back(cp);
    log_.log("created checkpoint '%s' (%lu bytes, %u sections max, block %u, %s%s)", printable_name(name).c_str(),
             static_cast<unsigned long>(a.checkpoint_size), a.max_sections, a.block_size,
             a.update_mode() == UpdateMode::kSync    ? "sync"
             : a.update_mode() == UpdateMode::kAsync ? "async"
                                                     : "async-weak",
             a.persistent() ? ", persistent" : "");
    return cp;
}

void Registry::destroy(const std::shared_ptr<Checkpoint>& c) {
    if (repl_) repl_->forget(c);
    if (!c->unlinked) {
        c->remove_objects();
        by_name_.erase(c->name());
    }
    log_.log("deleted checkpoint '%s'", printable_name(c->name()).c_str());
    all_.erase(std::remove(all_.begin(), all_.end(), c), all_.end());
}

void Registry::last_close(const std::shared_ptr<Checkpoint>& c) {
    // A standby replica outlives its local handles whatever its retention: the active decides
    // when the checkpoint goes (and says so); the countdown below runs only once this node is
    // active (run_timers). Destroyed here, a local reader's close deleted the replica, leaving
    // nothing to promote.
    if (c->unlinked || (c->retention_ns() == 0 && !c->held_by_replication())) {
        destroy(c);
        return;
    }
    if (c->retention_ns() == 0) return; // a standby's replica, with no deadline
    c->retention_deadline_ns = retention_deadline(mono_ns(), c->retention_ns(), grace_until_ns_);
}

std::shared_ptr<Checkpoint> Registry::find_checkpoint(const std::string& name) {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

Result<std::shared_ptr<Checkpoint>> Registry::create_replica(const std::string& name, const CheckpointAttributes& a) {
    return create_checkpoint(name, a);
}

void Registry::unlink(const std::shared_ptr<Checkpoint>& c) {
    // POSIX-like: the name goes now (a new checkpoint may take it), the data at the last close.
    if (!c->unlinked) {
        by_name_.erase(c->name());
        c->remove_objects();
        c->unlinked = true;
        shm::store_release(c->meta().mutable_header().state, c->meta().state() | shm::kMetaUnlinked);
    }
    if (c->open_count == 0) destroy(c);
}

void Registry::unlink_replica(const std::shared_ptr<Checkpoint>& c) {
    unlink(c);
}

void Registry::replication_log(const std::string& line) {
    log_.log("%s", line.c_str());
}

void Registry::expire_retention(std::int64_t now_ns) {
    std::vector<std::shared_ptr<Checkpoint>> due;
    for (auto& c : all_)
        if (c->open_count == 0 && c->retention_deadline_ns != 0 && now_ns >= c->retention_deadline_ns &&
            !c->held_by_replication())
            due.push_back(c);
    for (auto& c : due) {
        log_.log("checkpoint '%s': retention expired", printable_name(c->name()).c_str());
        destroy(c);
    }
}

void Registry::take_orphan(const std::shared_ptr<Checkpoint>& c, std::uint32_t slot, int epoll_fd) {
    for (auto it = orphans_.begin(); it != orphans_.end(); ++it) {
        if (it->second.ckpt == c && it->second.slot == slot) {
            if (::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, it->first, nullptr) != 0)
                log_.log("checkpoint '%s': epoll_ctl(DEL) of writer slot %u's pidfd: %s",
                         printable_name(c->name()).c_str(), slot, std::strerror(errno));
            orphans_.erase(it);
            --c->open_count; // the new handle takes over the orphan's hold
            return;
        }
    }
}

bool Registry::orphan_exited(int fd) {
    auto o = orphans_.find(fd);
    if (o == orphans_.end()) return false;
    log_.log("checkpoint '%s': writer pid from before the restart exited; releasing its slot %u",
             printable_name(o->second.ckpt->name()).c_str(), o->second.slot);
    auto cp = o->second.ckpt;
    cp->release_writer(o->second.slot);
    orphans_.erase(o);
    if (--cp->open_count == 0) last_close(cp);
    return true;
}

} // namespace ckpt::engine
