#pragma once
/// ckptstat's text screen: which tables it shows and where each value comes from (the stats
/// region through sample.hpp; open handles and flags from the engine's LIST; sections from the
/// shm reader API's directory copy).
#include "sample.hpp"
#include "table.hpp"

#include "ckpt/shm/checkpoint_view.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace ckpt::tools {

/// One whole screen: the node line, then blank-line-separated tables (checkpoints; replication
/// lag per standby when there is any; peers and the link when the engine has a transport; the
/// sections with -c).
void render_screen(std::ostream& out, const Sample& s, const Figures& f);

/// ID SIZE CAPACITY SEQ STATE EXPIRES LAST_UPDATE, one row per section in slot order.
Table section_table(const std::vector<shm::SectionInfo>& sections);

/// A duration in ns as one token: "850ns", "12.3us", "1.20ms", "2.50s".
std::string format_duration_ns(std::uint64_t ns);

} // namespace ckpt::tools
