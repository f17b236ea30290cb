// wmark commitments / open-request / open: the per-trigger commitments of adi keys
// (watermark/trigger_commitments.h). The owner publishes the commitments before any
// dispute; in a dispute the verifier draws which triggers are to be opened, the owner
// opens exactly those, and `wmark verify --published P --request R --opening O` checks
// the opening and queries the suspect with the re-drawn triggers.
#include <iostream>

#include "commands.h"
#include "wmark/claim/claim.h"
#include "wmark/util/files.h"
#include "wmark/watermark/key.h"
#include "wmark/watermark/trigger_commitments.h"

namespace wmark::cli {
namespace {

struct OpenCommand {
  std::string key, published, request, out;
  std::int64_t count = 30;
  bool force = false;
};

int run_commitments(const OpenCommand& c) {
  check_writable(c.out, c.force);
  const auto published = published_commitments(WatermarkKey::load(c.key));
  write_json(c.out, published, c.force);
  std::cout << published["commitments"].size() << " trigger commitments of key " << published["key_commitment"].get<std::string>()
            << " (no trigger, label or seed): " << c.out << "\n";
  return 0;
}

int run_open_request(const OpenCommand& c) {
  check_writable(c.out, c.force);
  const auto request = open_request(read_json_object(c.published), c.count);
  write_json(c.out, request, c.force);
  std::cout << "asks the owner to open " << request["indices"].size() << " triggers, chosen at random: " << c.out << "\n";
  return 0;
}

int run_open(const OpenCommand& c) {
  check_writable(c.out, c.force);
  const auto key = WatermarkKey::load(c.key);
  const auto indices = requested_triggers(read_json_object(c.request), key.commitment());
  write_json(c.out, opening_to_json(open_triggers(key, indices)), c.force);
  std::cout << "opened " << indices.size() << " triggers (their seeds; the others stay secret): " << c.out << "\n";
  return 0;
}

}  // namespace

void add_open_commands(CLI::App& app, Dispatch& dispatch) {
  auto c = std::make_shared<OpenCommand>();
  auto* commitments = app.add_subcommand("commitments", "Write an adi key's per-trigger commitments, to publish before any dispute");
  commitments->add_option("--key", c->key, "the adi key")->required()->check(CLI::ExistingFile);
  commitments->add_option("--out", c->out, "public document to write")->required();
  commitments->add_flag("--force", c->force, "overwrite an existing file");
  commitments->callback([c, &dispatch] { dispatch.action = [c] { return run_commitments(*c); }; });

  auto* request = app.add_subcommand("open-request", "Verifier: choose at random which committed triggers the owner must open");
  request->add_option("--published", c->published, "the owner's published commitments")->required()->check(CLI::ExistingFile);
  request->add_option("--count", c->count, "triggers to open")->check(CLI::Range(1ll, 100000ll));
  request->add_option("--out", c->out, "request to write (keep it: verify checks the opening against it)")->required();
  request->add_flag("--force", c->force, "overwrite an existing file");
  request->callback([c, &dispatch] { dispatch.action = [c] { return run_open_request(*c); }; });

  auto* open = app.add_subcommand("open", "Owner: open the triggers a verifier's request asks for");
  open->add_option("--key", c->key, "the adi key")->required()->check(CLI::ExistingFile);
  open->add_option("--request", c->request, "the verifier's open request")->required()->check(CLI::ExistingFile);
  open->add_option("--out", c->out, "opening to write and hand to the verifier")->required();
  open->add_flag("--force", c->force, "overwrite an existing file");
  open->callback([c, &dispatch] { dispatch.action = [c] { return run_open(*c); }; });
}

}  // namespace wmark::cli
