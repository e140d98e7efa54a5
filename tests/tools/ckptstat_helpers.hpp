#pragma once
// Helpers of the ckptstat tests: running the tool, reading its text tables and its JSON, and
// waiting until the engine has published what a test did (figures are at most stats_interval_ms
// old, so a test polls until they arrive: it asserts what they say, never when).
#include "tool_run.hpp"

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace ckpt::testing {

inline std::string ckptstat_path() {
    const char* p = std::getenv("CKPTSTAT");
    return p && *p ? p : "ckptstat";
}

inline ToolRun run_ckptstat(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
    return run_tool(ckptstat_path(), args, extra_env);
}

/// One table of the text output: column name -> cell, per row ("  damaged: ..." lines are notes).
/// Blocks are separated by blank lines; the first line of each block is its header.
struct TextTable {
    std::vector<std::string> header;
    std::vector<std::map<std::string, std::string>> rows;
    std::vector<std::string> notes;

    std::optional<std::map<std::string, std::string>> row(const std::string& first_cell) const {
        for (const auto& r : rows)
            if (r.at(header.at(0)) == first_cell) return r;
        return std::nullopt;
    }
};

inline std::vector<std::string> tokens(const std::string& line) {
    std::istringstream in(line);
    std::vector<std::string> t;
    for (std::string w; in >> w;) t.push_back(w);
    return t;
}

/// Every block of a screen, the node line included (a block with no rows).
inline std::vector<TextTable> parse_blocks(const std::string& text, std::vector<std::string>* ragged = nullptr) {
    std::vector<TextTable> tables;
    std::istringstream in(text);
    bool new_table = true;
    for (std::string line; std::getline(in, line);) {
        if (line.empty()) {
            new_table = true;
            continue;
        }
        if (new_table) {
            tables.push_back(TextTable{tokens(line), {}, {}});
            new_table = false;
            continue;
        }
        const auto cells = tokens(line);
        if (line.starts_with("  ") && !cells.empty() && cells[0].ends_with(':')) { // "  damaged: ..."
            tables.back().notes.push_back(line);
            continue;
        }
        if (cells.size() != tables.back().header.size() && ragged) ragged->push_back(line);
        std::map<std::string, std::string> row;
        for (std::size_t i = 0; i < cells.size() && i < tables.back().header.size(); ++i)
            row[tables.back().header[i]] = cells[i];
        tables.back().rows.push_back(std::move(row));
    }
    return tables;
}

/// The table whose first column is `first_column` ("NAME", "ID", "PEER", ...).
inline std::optional<TextTable> table_of(const std::string& text, const std::string& first_column) {
    for (auto& t : parse_blocks(text))
        if (!t.header.empty() && t.header[0] == first_column) return t;
    return std::nullopt;
}

/// The first JSON object ckptstat --json printed with these arguments (null on failure).
inline nlohmann::json stat_json(std::vector<std::string> args) {
    args.push_back("--json");
    const ToolRun r = run_ckptstat(args);
    if (r.exit_code != 0) return nullptr;
    const auto line = r.out.substr(0, r.out.find('\n'));
    return nlohmann::json::parse(line, nullptr, false);
}

/// The checkpoint called `name` in a sample (null when absent).
inline nlohmann::json checkpoint_of(const nlohmann::json& j, const std::string& name) {
    if (!j.is_object()) return nullptr;
    for (const auto& c : j["checkpoints"])
        if (c["name"] == name) return c;
    return nullptr;
}

/// Samples until pred(sample) holds (about 20 s at most); returns the sample that satisfied it,
/// or the last one.
template <typename P>
nlohmann::json wait_json(const std::vector<std::string>& args, P&& pred) {
    nlohmann::json j;
    for (int i = 0; i < 400; ++i) {
        j = stat_json(args);
        if (j.is_object() && pred(j)) return j;
        ::usleep(50'000);
    }
    return j;
}

} // namespace ckpt::testing
