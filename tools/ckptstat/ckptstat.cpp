// ckptstat: lists the node's checkpoints, or one checkpoint's sections. It asks ckptd for the list
// and for the segments (over the control socket) and reads shared memory only through the shm
// reader API, never by reinterpreting bytes itself (as AeronStat reads through aeron_cnc_init).
#include "report.hpp"

#include "ckpt/client/inspect.hpp"
#include "ckpt/client/session.hpp"

#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace ckpt::tools {

namespace {

/// Exit codes: scripts tell "no engine here" apart from every other failure.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitNoEngine = 2;

int report_failure(const Failure& f) {
    std::cerr << "ckptstat: " << f.message << '\n';
    return f.code == Error::kUnavailable ? kExitNoEngine : kExitError;
}

int list_checkpoints(client::Session& session) {
    auto checkpoints = session.list();
    if (!checkpoints) return report_failure(checkpoints.failure());
    checkpoint_table(*checkpoints).render(std::cout);
    return kExitOk;
}

int show_checkpoint(client::Session& session, const std::string& name) {
    auto in = client::inspect(session, name);
    if (!in) return report_failure(in.failure());
    const auto sections = in->meta.list();
    // The summary row comes from the same mapping as the section rows, so its counts agree with
    // the table below it (LIST would be a second, later snapshot).
    client::CheckpointSummary summary = in->counters;
    summary.sections = static_cast<std::uint32_t>(sections.size());
    summary.bytes_used = in->meta.bytes_used();
    summary.commit_seq = in->meta.commit_seq();
    summary.open_handles = in->open_handles;
    checkpoint_table({summary}).render(std::cout);
    std::cout << '\n';
    section_table(sections).render(std::cout);
    return kExitOk;
}

int run(int argc, char** argv) {
    CLI::App app{"ckptstat: the node's checkpoints and their sections, as ckptd and shared memory show them"};
    std::string socket;
    std::string checkpoint;
    app.add_option("--socket", socket,
                   std::string("ckptd's control socket (default: $CKPT_SOCKET, else ") + client::kDefaultSocket + ")");
    app.add_option("-c,--checkpoint", checkpoint, "show this checkpoint's sections");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a ParseError too; CLI11 prints it and answers 0. Usage errors are plain errors here.
        return app.exit(e) == 0 ? kExitOk : kExitError;
    }

    // A monitoring tool reports what it finds: no retrying for a restarting engine.
    auto session = client::Session::connect({.socket_path = socket, .reconnect = false});
    if (!session) return report_failure(session.failure());

    const int rc = checkpoint.empty() ? list_checkpoints(*session) : show_checkpoint(*session, checkpoint);
    std::cout.flush();
    if (rc == kExitOk && !std::cout) {
        std::cerr << "ckptstat: cannot write the output\n";
        return kExitError;
    }
    return rc;
}

} // namespace

} // namespace ckpt::tools

int main(int argc, char** argv) {
    return ckpt::tools::run(argc, argv);
}
