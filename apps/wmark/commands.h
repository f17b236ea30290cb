// One function per subcommand: each adds its flags to `app` and stores its action.
#pragma once

#include "common.h"

namespace wmark::cli {

void add_train_command(CLI::App& app, Dispatch& dispatch);
void add_embed_command(CLI::App& app, Dispatch& dispatch);
void add_verify_command(CLI::App& app, Dispatch& dispatch);
void add_keyinfo_command(CLI::App& app, Dispatch& dispatch);
void add_sandbox_worker_command(CLI::App& app, Dispatch& dispatch);  // hidden: verify's sandbox process
void add_attack_command(CLI::App& app, Dispatch& dispatch);
void add_forge_command(CLI::App& attack, Dispatch& dispatch);  // attack forge
void add_evaluate_command(CLI::App& app, Dispatch& dispatch);
void add_export_command(CLI::App& app, Dispatch& dispatch);  // export and import
void add_serve_command(CLI::App& app, Dispatch& dispatch);
void add_claim_commands(CLI::App& app, Dispatch& dispatch);  // identity, timestamp, claim, check-claim
void add_open_commands(CLI::App& app, Dispatch& dispatch);   // commitments, open-request, open (adi keys)
void add_trace_command(CLI::App& app, Dispatch& dispatch);   // trace (deepmarks keys)
void add_certify_command(CLI::App& app, Dispatch& dispatch); // certify (parameter smoothing)
void add_dawn_commands(CLI::App& app, Dispatch& dispatch);   // dawn init, dawn key

}  // namespace wmark::cli
