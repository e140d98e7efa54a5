#include "report.hpp"

#include "format.hpp"

#include <string>

namespace ckpt::tools {

namespace {

std::string fraction(std::uint64_t used, std::uint64_t limit) {
    return std::to_string(used) + "/" + std::to_string(limit);
}

std::string flags_of(const client::CheckpointSummary& c) {
    std::string flags;
    auto add = [&](const char* f) {
        if (!flags.empty()) flags += ',';
        flags += f;
    };
    if (c.attributes.persistent()) add("persistent");
    if (!c.damage.empty()) add("damaged");
    // A dash rather than an empty cell keeps every row the same number of whitespace-separated tokens.
    return flags.empty() ? "-" : flags;
}

} // namespace

Table checkpoint_table(const std::vector<client::CheckpointSummary>& checkpoints) {
    Table t({{"NAME"},
             {"MODE"},
             {"SECTIONS", Align::kRight},
             {"BYTES", Align::kRight},
             {"BLOCK", Align::kRight},
             {"COMMIT_SEQ", Align::kRight},
             {"OPEN", Align::kRight},
             {"FLAGS"}});
    for (const auto& c : checkpoints) {
        const auto& a = c.attributes;
        t.add_row({c.name, std::string(format_update_mode(a.update_mode())), fraction(c.sections, a.max_sections),
                   fraction(c.bytes_used, a.checkpoint_size), std::to_string(a.block_size),
                   std::to_string(c.commit_seq), std::to_string(c.open_handles), flags_of(c)});
        if (!c.damage.empty()) t.add_note("  damaged: " + c.damage);
    }
    return t;
}

Table section_table(const std::vector<shm::SectionInfo>& sections) {
    Table t({{"ID"},
             {"SIZE", Align::kRight},
             {"CAPACITY", Align::kRight},
             {"SEQ", Align::kRight},
             {"STATE"},
             {"EXPIRES"},
             {"LAST_UPDATE"}});
    for (const auto& s : sections) {
        t.add_row({format_section_id(s.id), std::to_string(s.committed_size), std::to_string(s.capacity),
                   std::to_string(s.captured_seq), format_section_state(s.state), format_time_ns(s.expiration_ns),
                   format_time_ns(s.last_update_ns)});
    }
    return t;
}

} // namespace ckpt::tools
