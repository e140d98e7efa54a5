#pragma once
/// ckptstat's machine-readable outputs. Field and metric names are a stable interface, documented
/// in docs/OPERATIONS.md: add new ones, never rename or drop one.
#include "sample.hpp"

#include <ostream>

namespace ckpt::tools {

/// --json: one JSON object per sample, on one line (JSON Lines).
void write_json(std::ostream& out, const Sample& s, const Figures& f, std::uint64_t sample_no);

/// --prometheus: the text exposition format (version 0.0.4), `ckpt_*` metrics labelled with the
/// node and, where they belong to one, the checkpoint, peer, reason or direction.
void write_prometheus(std::ostream& out, const Sample& s, const Figures& f);

} // namespace ckpt::tools
