#include "report.hpp"

#include "format.hpp"

#include <string>

namespace ckpt::tools {

namespace {} // namespace

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
        t.add_row({c.name, std::string(format_update_mode(a.update_mode())),
                   format_fraction(c.sections, a.max_sections), format_fraction(c.bytes_used, a.checkpoint_size),
                   std::to_string(a.block_size), std::to_string(c.commit_seq), std::to_string(c.open_handles),
                   format_checkpoint_flags(c)});
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
