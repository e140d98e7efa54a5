#include "table.hpp"

#include "ckpt/common/result.hpp"

#include <algorithm>

namespace ckpt::tools {

void Table::add_row(std::vector<std::string> cells) {
    CKPT_ENFORCE(cells.size() == columns_.size(), "row width differs from the table's");
    rows_.push_back(Row{std::move(cells), {}});
}

void Table::add_note(std::string line) {
    CKPT_ENFORCE(!rows_.empty(), "a note needs a row to stand under");
    rows_.back().notes.push_back(std::move(line));
}

namespace {

void write_line(std::ostream& out, const std::vector<Column>& columns, const std::vector<std::size_t>& widths,
                const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (i > 0) line += "  ";
        const std::size_t pad = widths[i] - cells[i].size();
        if (columns[i].align == Align::kRight) line.append(pad, ' ');
        line += cells[i];
        // Padding a left-aligned last column would only leave trailing blanks.
        if (columns[i].align == Align::kLeft && i + 1 < cells.size()) line.append(pad, ' ');
    }
    out << line << '\n';
}

} // namespace

void Table::render(std::ostream& out) const {
    std::vector<std::size_t> widths(columns_.size());
    std::vector<std::string> headers;
    for (std::size_t i = 0; i < columns_.size(); ++i) {
        widths[i] = columns_[i].header.size();
        headers.push_back(columns_[i].header);
    }
    for (const auto& row : rows_)
        for (std::size_t i = 0; i < row.cells.size(); ++i) widths[i] = std::max(widths[i], row.cells[i].size());
    write_line(out, columns_, widths, headers);
    for (const auto& row : rows_) {
        write_line(out, columns_, widths, row.cells);
        for (const auto& note : row.notes) out << note << '\n';
    }
}

} // namespace ckpt::tools
