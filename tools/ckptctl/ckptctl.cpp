// ckptctl: administers the node's checkpoints from the shell over ckptd's control socket, through
// the client library only (as an application would), so every refusal is the engine's own, in its
// own words. This file is the command line: options, their syntax checks, and which command runs.
#include "commands.hpp"
#include "exit_codes.hpp"
#include "section_id.hpp"
#include "size_parse.hpp"

#include "ckpt/client/session.hpp"
#include "ckpt/common/attributes.hpp"
#include "ckpt/net/frame_auth.hpp"

#include <CLI/CLI.hpp>

#include <cstdio>

#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace ckpt::tools {

namespace {

/// Upper bound of the millisecond options (about 31 years): now + this, in ns, still fits in 64 bits.
constexpr std::int64_t kMaxDurationMs = 1'000'000'000'000;
/// `create` is a separate process that closes its handle on exit: with retention 0 the checkpoint
/// would be gone before anyone could open it, so ckptctl keeps it an hour unless told otherwise.
constexpr std::int64_t kCreateRetentionMs = 3'600'000;

constexpr const char* kExitCodesHelp =
    "Exit codes: 0 success; 1 the engine refused (the message says why); 2 no ckptd at the socket;\n"
    "3 not available in this build; 64 usage error.";

/// A byte count ("4096", "64K", "1M"): checked during parsing, so a bad one is a usage error.
CLI::Option* add_size_option(CLI::App& app, const std::string& name, std::uint64_t& target, std::uint64_t max,
                             const std::string& help) {
    auto* opt = app.add_option_function<std::string>(
        name, [&target](const std::string& text) { target = parse_size(text).value_or(0); }, help);
    opt->check(CLI::Validator([max](std::string& text) { return size_error(text, max); }, ""));
    opt->type_name("BYTES");
    return opt;
}

/// A section id argument; see section_id.hpp for the \xNN spelling and '' for the default section.
CLI::Option* add_section_id(CLI::App& app, std::string& target) {
    auto* opt = app.add_option("ID", target, "section id: bytes as printed by `sections` (\\xNN), '' for the default")
                    ->required();
    opt->check(CLI::Validator([](std::string& text) { return section_id_error(text); }, ""));
    return opt;
}

std::string decoded_id(const std::string& text) {
    // Already validated while parsing.
    return parse_section_id(text).value_or(std::string{});
}

/// Everything the command line can set; one instance, bound to the options before parsing.
struct Arguments {
    std::string socket;
    std::string checkpoint;
    std::string section;

    // create
    std::uint64_t checkpoint_size = CheckpointAttributes{}.checkpoint_size;
    std::uint32_t max_sections = CheckpointAttributes{}.max_sections;
    std::uint64_t max_section_size = CheckpointAttributes{}.max_section_size;
    std::uint32_t max_section_id_size = CheckpointAttributes{}.max_section_id_size;
    std::int64_t retention_ms = kCreateRetentionMs;
    std::string mode = "async"; ///< CheckpointAttributes' default
    std::uint64_t block_size = CheckpointAttributes{}.block_size;
    bool persistent = false;
    bool net_size = false;

    // section-create, write, dump
    std::uint64_t capacity = 0;
    std::string data;
    std::string data_file;
    std::int64_t expires_in_ms = 0;
    bool expires = false;
    std::uint64_t offset = 0;
    bool raw = false;

    CheckpointAttributes attributes() const {
        static const std::map<std::string, UpdateMode> kModes{
            {"sync", UpdateMode::kSync}, {"async", UpdateMode::kAsync}, {"weak", UpdateMode::kAsyncWeak}};
        CheckpointAttributes a;
        a.creation_flags = static_cast<std::uint32_t>(kModes.at(mode)) | (persistent ? kFlagPersistent : 0u) |
                           (net_size ? kFlagNetSize : 0u);
        a.checkpoint_size = checkpoint_size;
        a.max_sections = max_sections;
        a.max_section_size = max_section_size;
        a.max_section_id_size = max_section_id_size;
        a.retention_ns = retention_ms * 1'000'000;
        a.block_size = static_cast<std::uint32_t>(block_size);
        return a;
    }
};

/// A subcommand and what it does once connected; an empty action means "not built yet".
struct Command {
    CLI::App* app = nullptr;
    std::function<int(client::Session&)> action;
};

int run(int argc, char** argv) {
    CLI::App app{"ckptctl: administer the node's checkpoints through ckptd's control socket", "ckptctl"};
    // At most one command; "none" is answered below. (require_subcommand(1) would answer an unknown
    // command with "A subcommand is required" instead of naming it.)
    app.require_subcommand(0, 1);
    // --socket is accepted after the subcommand too (`ckptctl list --socket PATH`).
    app.fallthrough();
    app.failure_message(
        [](const CLI::App* a, const CLI::Error& e) { return "ckptctl: " + CLI::FailureMessage::simple(a, e); });
    app.footer(kExitCodesHelp);
    Arguments args;
    app.add_option("--socket", args.socket,
                   std::string("ckptd's control socket (default: $CKPT_SOCKET, else ") + client::kDefaultSocket + ")")
        ->type_name("PATH");

    std::vector<Command> commands;
    auto add = [&](const char* name, const char* help, std::function<int(client::Session&)> action) {
        CLI::App* sub = app.add_subcommand(name, help);
        commands.push_back({sub, std::move(action)});
        return sub;
    };
    auto add_checkpoint_name = [&](CLI::App* sub) {
        sub->add_option("NAME", args.checkpoint, "checkpoint name")->required();
    };

    add("list", "one line per checkpoint: mode, sections used/max, bytes used/size, commit sequence, open handles",
        [&](client::Session& s) { return list_checkpoints(s); });
    add("peers", "the engine's transport and its replication peers: state, last heard, frames, restarts",
        [&](client::Session& s) { return list_peers(s); });

    auto* create = add("create", "create a checkpoint, or open an identical existing one (see Retention below)",
                       [&](client::Session& s) { return create_checkpoint(s, args.checkpoint, args.attributes()); });
    create->footer(
        "Retention: ckptctl closes the checkpoint when it exits, so the checkpoint outlives it only for its\n"
        "retention time unless an application opens it. With --retention-ms 0 it is deleted as soon as\n"
        "ckptctl exits; hence the default of 1 hour here (the library's default is 0).\n\n" +
        std::string(kExitCodesHelp));
    add_checkpoint_name(create);
    add_size_option(*create, "--size", args.checkpoint_size, std::uint64_t{1} << 40,
                    "bytes of section data the checkpoint holds (checkpoint_size); K, M, G suffixes")
        ->default_str(std::to_string(args.checkpoint_size));
    create->add_option("--max-sections", args.max_sections, "most sections; 1 means one default section (id '')")
        ->capture_default_str();
    add_size_option(*create, "--max-section-size", args.max_section_size, std::uint64_t{1} << 40,
                    "largest size of one section; K, M, G suffixes")
        ->default_str(std::to_string(args.max_section_size));
    create->add_option("--max-section-id-size", args.max_section_id_size, "longest section id, in bytes")
        ->capture_default_str();
    create
        ->add_option("--retention-ms", args.retention_ms,
                     "how long the checkpoint stays after its last close, in ms (0: deleted at once)")
        ->check(CLI::Range(std::int64_t{0}, kMaxDurationMs))
        ->type_name("MS")
        ->capture_default_str();
    create
        ->add_option("--mode", args.mode,
                     "update mode: sync (commits wait for every replica), async (a dead writer is rolled back), "
                     "weak (a dead writer leaves the section corrupted)")
        ->check(CLI::IsMember({"sync", "async", "weak"}))
        ->capture_default_str();
    add_size_option(*create, "--block-size", args.block_size, std::numeric_limits<std::uint32_t>::max(),
                    "dirty-tracking and replication granularity: a power of two, 64..1M; K, M suffixes")
        ->default_str(std::to_string(args.block_size));
    create->add_flag("--persistent", args.persistent, "keep the segments as files under ckptd's state_dir");
    create->add_flag("--net-size", args.net_size,
                     "--size counts the bytes the sections hold (the SA Forum's checkpointSize); room is reserved "
                     "for --max-sections sections of --max-section-size");

    auto* unlink = add("unlink", "remove a checkpoint's name now; its data goes at the last close",
                       [&](client::Session& s) { return unlink_checkpoint(s, args.checkpoint); });
    add_checkpoint_name(unlink);

    auto* status = add("status",
                       "a checkpoint's attributes, usage, commit sequence, engine counters and damage "
                       "(opens it read-only)",
                       [&](client::Session& s) { return show_status(s, args.checkpoint); });
    add_checkpoint_name(status);

    auto* sections =
        add("sections", "a checkpoint's sections: id, size, capacity, state, expiration, last update, sequence",
            [&](client::Session& s) { return list_sections(s, args.checkpoint); });
    add_checkpoint_name(sections);

    auto* section_create = add("section-create", "create a section in a checkpoint", [&](client::Session& s) {
        SectionCreateRequest r;
        r.checkpoint = args.checkpoint;
        r.id = decoded_id(args.section);
        r.capacity = args.capacity;
        r.data = args.data;
        r.data_file = args.data_file;
        if (args.expires) r.expires_in_ms = args.expires_in_ms;
        return create_section(s, r);
    });
    add_checkpoint_name(section_create);
    add_section_id(*section_create, args.section);
    add_size_option(*section_create, "--size", args.capacity, std::uint64_t{1} << 40,
                    "bytes reserved for the section; K, M, G suffixes (default: the max_section_size)");
    auto* data_opt = section_create->add_option("--data", args.data, "initial contents, as given");
    auto* file_opt = section_create->add_option("--data-file", args.data_file, "initial contents, from this file")
                         ->type_name("PATH");
    data_opt->excludes(file_opt);
    section_create
        ->add_option_function<std::int64_t>(
            "--expires-in-ms",
            [&](std::int64_t ms) {
                args.expires_in_ms = ms;
                args.expires = true;
            },
            "the section expires (and is deleted) this many ms from now (default: never)")
        ->check(CLI::Range(std::int64_t{0}, kMaxDurationMs))
        ->type_name("MS");

    auto* section_delete = add("section-delete", "delete a section", [&](client::Session& s) {
        return delete_section(s, args.checkpoint, decoded_id(args.section));
    });
    add_checkpoint_name(section_delete);
    add_section_id(*section_delete, args.section);

    auto* dump =
        add("dump", "a section's committed bytes: a hex dump (offset, 16 bytes, ASCII), or raw",
            [&](client::Session& s) { return dump_section(s, args.checkpoint, decoded_id(args.section), args.raw); });
    add_checkpoint_name(dump);
    add_section_id(*dump, args.section);
    dump->add_flag("--raw", args.raw, "write the bytes to stdout unchanged");

    auto* write = add("write", "write bytes into a section in one synchronous commit; prints the commit sequence",
                      [&](client::Session& s) {
                          return write_section(s, args.checkpoint, decoded_id(args.section), args.data, args.offset);
                      });
    add_checkpoint_name(write);
    add_section_id(*write, args.section);
    write->add_option("--data", args.data, "the bytes to write, as given")->required();
    write->add_option("--offset", args.offset, "where in the section they go (the size grows to cover them)")
        ->capture_default_str();

    auto* promote = add("promote",
                        "make this node's replica of NAME the active one, with a higher epoch (failover); "
                        "prints the epoch",
                        [&](client::Session& s) { return promote_checkpoint(s, args.checkpoint); });
    add_checkpoint_name(promote);
    auto* demote = add("demote", "make this node's replica of NAME a standby (planned switch-over: promote another)",
                       [&](client::Session& s) { return demote_checkpoint(s, args.checkpoint); });
    add_checkpoint_name(demote);

    // keygen works on a file, not on the engine: handled before connecting.
    std::string key_path;
    int key_id = 0;
    bool rotate = false;
    auto* keygen = app.add_subcommand(
        "keygen", "write a new random cluster key to PATH (mode 0600): auth_key_file of every node of a cluster");
    keygen->add_option("PATH", key_path, "the key file to create (never overwritten, unless --rotate)")
        ->required()
        ->type_name("PATH");
    keygen->add_option("--id", key_id, "the key's id, 1..255 (default 1; with --rotate, the file's id + 1)")
        ->check(CLI::Range(1, 255));
    keygen->add_flag("--rotate", rotate,
                     "replace the key in PATH by a new one with the next id; copy the file to every node, then "
                     "send each ckptd SIGHUP: both keys are accepted during the change");
    keygen->footer("Exit codes: 0 written, 1 refused (the message says why), 64 usage.");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // --help is a ParseError too: CLI11 prints the help and answers 0.
        return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }

    if (keygen->parsed()) {
        net::ClusterKey old;
        if (rotate) {
            if (std::string e = net::load_key_file(key_path, old); !e.empty())
                return report_error("keygen --rotate: " + e, kExitError);
            if (key_id == 0) key_id = old.id == 255 ? 1 : old.id + 1;
            if (key_id == old.id) return report_error("keygen --rotate: --id is the key's current id", kExitUsage);
            net::wipe_key(old);
        }
        net::ClusterKey k = net::generate_key(static_cast<std::uint8_t>(key_id == 0 ? 1 : key_id));
        const std::string e = net::write_key_file(key_path, k, rotate);
        net::wipe_key(k);
        if (!e.empty()) return report_error("keygen: " + e, kExitError);
        std::printf("cluster key %d written to %s (0600)\n", key_id == 0 ? 1 : key_id, key_path.c_str());
        return kExitOk;
    }

    const Command* chosen = nullptr;
    for (const auto& c : commands)
        if (c.app->parsed()) chosen = &c;
    if (chosen == nullptr) return report_error("no command given (ckptctl --help lists them)", kExitUsage);

    // No reconnecting: an operator wants to know that the engine is away, not wait for it.
    auto session = client::Session::connect({.socket_path = args.socket, .reconnect = false});
    if (!session) return report_failure(session.failure());

    // Names are given as ckptctl shows them: \xHH stands for a byte that is not printable ASCII.
    args.checkpoint = unescape_name(args.checkpoint);
    const int rc = chosen->action(*session);
    std::cout.flush();
    if (rc == kExitOk && !std::cout) return report_error("cannot write the output");
    return rc;
}

} // namespace

} // namespace ckpt::tools

int main(int argc, char** argv) {
    return ckpt::tools::run(argc, argv);
}
