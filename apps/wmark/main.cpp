// wmark: the command-line tool. A thin layer: parse flags, call the library, map
// the outcome to an exit code (0 success / verified, 1 not verified, 2 error).
#include <c10/util/Exception.h>

#include <iostream>

#include "commands.h"
#include "wmark/util/error.h"
#include "wmark/util/log.h"

int main(int argc, char** argv) {
  CLI::App app{"wmark: embed watermarks in neural networks and prove ownership of suspect models"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error or off");
  wmark::cli::Dispatch dispatch;
  wmark::cli::add_train_command(app, dispatch);
  wmark::cli::add_embed_command(app, dispatch);
  wmark::cli::add_verify_command(app, dispatch);
  wmark::cli::add_keyinfo_command(app, dispatch);
  wmark::cli::add_sandbox_worker_command(app, dispatch);
  wmark::cli::add_attack_command(app, dispatch);
  wmark::cli::add_evaluate_command(app, dispatch);
  wmark::cli::add_export_command(app, dispatch);
  wmark::cli::add_serve_command(app, dispatch);
  wmark::cli::add_claim_commands(app, dispatch);
  wmark::cli::add_open_commands(app, dispatch);
  wmark::cli::add_trace_command(app, dispatch);
  wmark::cli::add_certify_command(app, dispatch);
  wmark::cli::add_dawn_commands(app, dispatch);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    const int code = app.exit(error);
    return code == 0 ? 0 : 2;
  } catch (const std::exception& error) {
    std::cerr << "wmark: error: " << error.what() << "\n";
    return 2;
  }
  try {
    wmark::set_log_level(log_level);
    return dispatch.action ? dispatch.action() : 2;
  } catch (const wmark::Error& error) {
    std::cerr << "wmark: error: " << error.what() << "\n";
  } catch (const c10::Error& error) {
    std::cerr << "wmark: error: " << error.what_without_backtrace() << "\n";
  } catch (const std::exception& error) {
    std::cerr << "wmark: error: " << error.what() << "\n";
  }
  return 2;
}
