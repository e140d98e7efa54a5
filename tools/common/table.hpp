#pragma once
/// A plain-text table with aligned columns (the vmstat / `ss` look): text columns left-aligned,
/// numbers right-aligned, two spaces between columns, no trailing blanks, so that both people and
/// `awk '{print $N}'` can read it.
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

namespace ckpt::tools {

enum class Align { kLeft, kRight };

struct Column {
    std::string header;
    Align align = Align::kLeft;
};

class Table {
public:
    explicit Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

    /// Appends one row; it must have exactly one cell per column (a broken contract aborts).
    void add_row(std::vector<std::string> cells);
    /// Attaches a free-form line under the last row (e.g. "  damaged: ..."); it takes no part in
    /// the column widths. Needs a row first (a broken contract aborts).
    void add_note(std::string line);
    std::size_t rows() const { return rows_.size(); }

    /// Writes the header line and every row, each ending in '\n'.
    void render(std::ostream& out) const;

private:
    struct Row {
        std::vector<std::string> cells;
        std::vector<std::string> notes;
    };
    std::vector<Column> columns_;
    std::vector<Row> rows_;
};

} // namespace ckpt::tools
