#include "test_ca.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

#include "wmark/util/files.h"

namespace fs = std::filesystem;

namespace wmark::test {
namespace {

std::string quoted(const fs::path& path) { return "'" + path.string() + "'"; }

}  // namespace

void TestCa::openssl(const std::string& arguments) const {
  const auto log = dir_ / "openssl.log";
  const auto command = "cd " + quoted(dir_.path()) + " && openssl " + arguments + " >" + quoted(log) + " 2>&1";
  if (std::system(command.c_str()) != 0)
    throw std::runtime_error("test CA: '" + command + "' failed: " + read_file(log));
}

TestCa::TestCa(const std::string& name) : certificate_(dir_ / "ca.pem") {
  openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=" + name +
          " CA' -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE "
          "-addext keyUsage=critical,keyCertSign,cRLSign");
}

TestCa::Issued TestCa::issue(const std::string& subject, const std::string& extensions,
                             const std::string& file_stem) const {
  const Issued issued{dir_ / (file_stem + ".pem"), dir_ / (file_stem + ".key")};
  std::ofstream(dir_ / (file_stem + ".ext")) << "basicConstraints=CA:FALSE\n" << extensions << "\n";
  openssl("req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=" + subject + "' -keyout " +
          quoted(issued.key) + " -out " + file_stem + ".csr");
  openssl("x509 -req -in " + file_stem + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -out " +
          quoted(issued.certificate) + " -extfile " + file_stem + ".ext");
  return issued;
}

std::string certificate_sha256(const fs::path& pem) {
  std::string out;
  if (run_command("openssl x509 -noout -fingerprint -sha256 -in '" + pem.string() + "'", out) != 0)
    throw std::runtime_error("cannot fingerprint " + pem.string() + ": " + out);
  // "sha256 Fingerprint=AB:CD:..." -> "abcd..."
  std::string hex;
  for (char c : out.substr(out.find('=') + 1))
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return hex;
}

}  // namespace wmark::test
