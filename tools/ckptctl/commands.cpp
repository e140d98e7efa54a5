#include "commands.hpp"

#include "exit_codes.hpp"
#include "hexdump.hpp"
#include "views.hpp"

#include "ckpt/client/inspect.hpp"
#include "ckpt/shm/segment_layout.hpp"

#include <cerrno>
#include <fstream>
#include <iostream>
#include <iterator>
#include <span>
#include <system_error>
#include <vector>

namespace ckpt::tools {

namespace {

std::span<const std::byte> bytes_of(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
}

/// The whole file, or a failure naming it (an operator's typo, not the engine's business).
Result<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(Error::kNotExist, "cannot read " + path + ": " + std::generic_category().message(errno));
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return fail(Error::kLibrary, "cannot read " + path + ": " + std::generic_category().message(errno));
    return content;
}

} // namespace

int list_checkpoints(client::Session& session) {
    auto checkpoints = session.list();
    if (!checkpoints) return report_failure(checkpoints.failure());
    checkpoint_list_table(*checkpoints).render(std::cout);
    return kExitOk;
}

int list_peers(client::Session& session) {
    auto link = session.peers();
    if (!link) return report_failure(link.failure());
    std::cout << "transport " << link->transport << ": rx " << link->rx_frames << " tx " << link->tx_frames
              << " tx-dropped " << link->tx_dropped << " rejected " << link->rx_rejected << " misdirected "
              << link->rx_misdirected << "\n";
    if (link->peers.empty()) return kExitOk;
    std::cout << "NODE  STATE         LAST_HEARD_MS  RX_FRAMES  TX_FRAMES  RESTARTS\n";
    for (const auto& p : link->peers) {
        char line[160];
        std::snprintf(line, sizeof line, "%-5u %-13s %13s  %9llu  %9llu  %8llu\n", p.node_id, p.state.c_str(),
                      p.last_heard_ago_ns < 0 ? "never" : std::to_string(p.last_heard_ago_ns / 1'000'000).c_str(),
                      static_cast<unsigned long long>(p.rx_frames), static_cast<unsigned long long>(p.tx_frames),
                      static_cast<unsigned long long>(p.restarts));
        std::cout << line;
    }
    return kExitOk;
}

int create_checkpoint(client::Session& session, const std::string& name, const CheckpointAttributes& attrs) {
    auto ck = session.create(name, attrs);
    if (!ck) return report_failure(ck.failure());
    // Closed explicitly so that a failing close is reported, not lost in a destructor.
    if (Status s = ck->close(); !s) return report_failure(s.failure());
    return kExitOk;
}

int unlink_checkpoint(client::Session& session, const std::string& name) {
    if (Status s = session.unlink(name); !s) return report_failure(s.failure());
    return kExitOk;
}

int show_status(client::Session& session, const std::string& name) {
    // Read-only: looking must never take a writer slot or be mistaken for a writer.
    auto ck = session.open(name, kOpenRead);
    if (!ck) return report_failure(ck.failure());
    auto st = ck->status();
    if (!st) return report_failure(st.failure());
    write_status(std::cout, name, *st, ck->replication());
    return kExitOk;
}

int promote_checkpoint(client::Session& session, const std::string& name) {
    auto epoch = session.promote(name);
    if (!epoch) return report_failure(epoch.failure());
    std::cout << "checkpoint '" << name << "' is active on this node, epoch " << *epoch << " (promotion "
              << shm::epoch_count(*epoch) << ", by node " << shm::epoch_node(*epoch) << ")\n";
    return kExitOk;
}

int demote_checkpoint(client::Session& session, const std::string& name) {
    if (Status s = session.demote(name); !s) return report_failure(s.failure());
    std::cout << "checkpoint '" << name << "' is a standby on this node\n";
    return kExitOk;
}

int list_sections(client::Session& session, const std::string& name) {
    // INSPECT rather than an open: an observer must not restart the checkpoint's retention timer.
    auto in = client::inspect(session, name);
    if (!in) return report_failure(in.failure());
    section_list_table(in->meta.list()).render(std::cout);
    return kExitOk;
}

int create_section(client::Session& session, const SectionCreateRequest& request) {
    std::string data = request.data;
    if (!request.data_file.empty()) {
        auto content = read_file(request.data_file);
        if (!content) return report_error(content.message());
        data = std::move(*content);
    }
    client::SectionCreate create{.id = request.id, .capacity = request.capacity, .initial = bytes_of(data)};
    if (request.expires_in_ms) create.expiration_ns = shm::now_realtime_ns() + *request.expires_in_ms * 1'000'000;
    auto ck = session.open(request.checkpoint, kOpenRead | kOpenWrite);
    if (!ck) return report_failure(ck.failure());
    auto sec = ck->create_section(create);
    if (!sec) return report_failure(sec.failure());
    return kExitOk;
}

int delete_section(client::Session& session, const std::string& checkpoint, const std::string& id) {
    auto ck = session.open(checkpoint, kOpenRead | kOpenWrite);
    if (!ck) return report_failure(ck.failure());
    if (Status s = ck->delete_section(id); !s) return report_failure(s.failure());
    return kExitOk;
}

int dump_section(client::Session& session, const std::string& checkpoint, const std::string& id, bool raw) {
    auto ck = session.open(checkpoint, kOpenRead);
    if (!ck) return report_failure(ck.failure());
    auto sec = ck->section(id);
    if (!sec) return report_failure(sec.failure());
    // A buffer of the section's capacity, not of its current size: read() copies one consistent
    // state, and a commit that grows the section between size() and read() would otherwise be cut.
    std::vector<std::byte> buffer(sec->capacity());
    auto n = sec->read(0, buffer);
    if (!n) return report_failure(n.failure());
    buffer.resize(*n);
    if (raw) {
        std::cout.write(reinterpret_cast<const char*>(buffer.data()), static_cast<std::streamsize>(buffer.size()));
    } else {
        write_hexdump(std::cout, buffer);
    }
    return kExitOk;
}

int write_section(client::Session& session, const std::string& checkpoint, const std::string& id,
                  const std::string& data, std::uint64_t offset) {
    auto ck = session.open(checkpoint, kOpenRead | kOpenWrite);
    if (!ck) return report_failure(ck.failure());
    auto sec = ck->section(id);
    if (!sec) return report_failure(sec.failure());
    // Synchronous whatever the checkpoint's mode: the printed sequence is one the engine holds.
    auto seq = sec->write(static_cast<std::size_t>(offset), bytes_of(data), client::Ack::kSync);
    if (!seq) return report_failure(seq.failure());
    std::cout << *seq << '\n';
    return kExitOk;
}

} // namespace ckpt::tools
