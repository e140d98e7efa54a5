// The start and the end every end-to-end tool of bench/ shares: find ckptd, a log directory, the
// stop handlers and the pinning before the first step; after the last, the report (heading, run
// conditions, table), the JSON, the logs kept or removed, and the exit status.
#pragma once

#include "report.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ckpt::bench {

/// Finds ckptd (`ckptd` as given, else $CKPTD, else ../engine/ckptd beside the tool) and exports it
/// as $CKPTD for EngineProcess, makes `log_dir` (/tmp/hotspare-<tool>-logs-XXXXXX), installs the
/// stop handlers and pins the tool to `cpu`. False, with the reason on stderr, when there is no
/// ckptd.
bool prepare_tool(const char* tool, std::string& ckptd, std::string& log_dir, int cpu);

/// Prints "`title`, <date> (<seconds> s, <rounds> round(s); medians over rounds)", the command,
/// commit, every `shown` {label, info key} present in `info`, the load and the table; writes the
/// JSON to `json` (when not empty); keeps the logs when asked or after an error, else removes them.
/// Returns the exit status: 0 when no error and no signal.
int finish_tool(const char* tool, const std::string& title, unsigned rounds,
                const std::map<std::string, std::string>& info,
                const std::vector<std::pair<std::string, std::string>>& shown, const std::vector<Row>& rows,
                Results& res, const std::string& json, const std::string& log_dir, bool keep_logs);

} // namespace ckpt::bench
