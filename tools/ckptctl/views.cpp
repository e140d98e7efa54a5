#include "views.hpp"

#include "ckpt/common/attributes.hpp"
#include "format.hpp"

#include <algorithm>
#include <utility>

namespace ckpt::tools {

namespace {

/// Retention is kept in ns but given in ms on the command line: show ms unless that would round.
std::string duration_text(std::int64_t ns) {
    if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + " ms";
    return std::to_string(ns) + " ns";
}

} // namespace

Table checkpoint_list_table(const std::vector<client::CheckpointSummary>& checkpoints) {
    Table t({{"NAME"},
             {"MODE"},
             {"SECTIONS", Align::kRight},
             {"BYTES", Align::kRight},
             {"COMMIT_SEQ", Align::kRight},
             {"OPEN", Align::kRight},
             {"FLAGS"}});
    for (const auto& c : checkpoints) {
        const auto& a = c.attributes;
        t.add_row({printable_name(c.name), std::string(format_update_mode(a.update_mode())),
                   format_fraction(c.sections, a.max_sections), format_fraction(c.bytes_used, a.checkpoint_size),
                   std::to_string(c.commit_seq), std::to_string(c.open_handles), format_checkpoint_flags(c)});
        if (!c.damage.empty()) t.add_note("  damaged: " + c.damage);
    }
    return t;
}

Table section_list_table(const std::vector<shm::SectionInfo>& sections) {
    Table t({{"ID"},
             {"SIZE", Align::kRight},
             {"CAPACITY", Align::kRight},
             {"STATE"},
             {"EXPIRES"},
             {"LAST_UPDATE"},
             {"SEQ", Align::kRight}});
    for (const auto& s : sections) {
        t.add_row({format_section_id(s.id), std::to_string(s.committed_size), std::to_string(s.capacity),
                   format_section_state(s.state), format_time_ns(s.expiration_ns), format_time_ns(s.last_update_ns),
                   std::to_string(s.captured_seq)});
    }
    return t;
}

void write_status(std::ostream& out, const std::string& name, const client::CheckpointStatus& st,
                  const client::ReplicationState& r) {
    const auto& a = st.attributes;
    const std::vector<std::pair<std::string, std::string>> lines{
        {"name", printable_name(name)},
        {"role", r.role},
        {"epoch", std::to_string(r.epoch)},
        {"active_node", r.active_node ? std::to_string(r.active_node) : "-"},
        {"replicas_in_sync", std::to_string(r.replicas)},
        {"lag", std::to_string(r.lag_commits) + " commits, " + std::to_string(r.lag_bytes) + " bytes"},
        {"sync_blocked_by", r.sync_blocked_by ? "node " + std::to_string(r.sync_blocked_by) : "none"},
        {"mode", std::string(format_update_mode(a.update_mode()))},
        {"persistent", a.persistent() ? "yes" : "no"},
        {"net_size", a.net_size() ? "yes" : "no"},
        {"checkpoint_size", std::to_string(a.checkpoint_size)},
        {"max_sections", std::to_string(a.max_sections)},
        {"max_section_size", std::to_string(a.max_section_size)},
        {"max_section_id_size", std::to_string(a.max_section_id_size)},
        {"block_size", std::to_string(a.block_size)},
        {"retention", duration_text(a.retention_ns)},
        {"sections", format_fraction(st.sections, a.max_sections)},
        {"bytes_used", format_fraction(st.bytes_used, a.checkpoint_size)},
        {"commit_seq", std::to_string(st.commit_seq)},
        {"captures", std::to_string(st.captures)},
        {"captured_bytes", std::to_string(st.captured_bytes)},
        {"rollbacks", std::to_string(st.rollbacks)},
        {"corruptions", std::to_string(st.corruptions)},
        {"invalid_words", std::to_string(st.invalid_words)},
        // Last: the damage text is free-form and may be long.
        {"damage", st.damage.empty() ? "none" : st.damage},
    };
    std::size_t width = 0;
    for (const auto& [key, value] : lines) width = std::max(width, key.size());
    for (const auto& [key, value] : lines)
        out << key << ':' << std::string(width - key.size() + 1, ' ') << value << '\n';
}

} // namespace ckpt::tools
