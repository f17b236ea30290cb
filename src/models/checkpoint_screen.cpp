#include "checkpoint_screen.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "wmark/util/error.h"
#include "../util/text.h"
#include "zip_directory.h"

namespace wmark {
namespace {

constexpr std::size_t kMaxEntries = 1 << 16;
constexpr int kMaxTypeNesting = 8;

// The zip reader reads the bytes in place (an istream would copy them).
class BytesAdapter : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BytesAdapter(std::string_view bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char*) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<std::size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  std::string_view bytes_;
};

// One line of a code record, matched against the declarations torch::serialize writes:
//   class Module(Module):            __parameters__ = ["a", "b", ]     __annotations__ = []
//   name : Type                      __annotations__["key"] = Type
// Anything else (def, decorators, imports, expressions) is a program, not plain data.
class DeclarationLine {
 public:
  explicit DeclarationLine(std::string_view line) : s_(line) {}

  bool matches() {
    if (s_.empty()) return true;
    if (lit("class ")) return name() && lit("(Module):") && done();
    if (!lit("  ")) return false;
    if (lit("__parameters__ = ") || lit("__buffers__ = ")) return string_list() && done();
    if (lit("__annotations__ = []")) return done();
    if (lit("__annotations__[")) return string() && lit("] = ") && type() && done();
    return name() && lit(" : ") && type() && done();
  }

 private:
  bool lit(std::string_view text) {
    if (s_.substr(i_, text.size()) != text) return false;
    i_ += text.size();
    return true;
  }
  bool done() const { return i_ == s_.size(); }
  static bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }
  bool name() {
    const auto start = i_;
    while (i_ < s_.size() && word_char(s_[i_])) ++i_;
    return i_ > start && !(s_[start] >= '0' && s_[start] <= '9');
  }
  bool string() {  // "..." without escapes
    if (!lit("\"")) return false;
    while (i_ < s_.size() && s_[i_] != '"' && s_[i_] != '\\') ++i_;
    return lit("\"");
  }
  bool string_list() {
    if (!lit("[")) return false;
    while (string()) {
      if (!lit(", ")) return false;
    }
    return lit("]");
  }
  // A type expression: dotted names, brackets (nesting bounded), commas and spaces.
  bool type() {
    int depth = 0;
    const auto start = i_;
    for (; i_ < s_.size(); ++i_) {
      const char c = s_[i_];
      if (c == '[') {
        if (++depth > kMaxTypeNesting) return false;
      } else if (c == ']') {
        if (--depth < 0) return false;
      } else if (!word_char(c) && c != '.' && c != ',' && c != ' ') {
        return false;
      }
    }
    return i_ > start && depth == 0;
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

// Fails unless every line of `code` is a declaration; returns whether the class declares
// the wmark metadata attribute.
bool check_declarations(std::string_view code, const std::string& record, const std::string& file) {
  bool has_meta = false;
  std::size_t line_number = 0;
  while (!code.empty()) {
    const auto end = code.find('\n');
    const auto line = code.substr(0, end);
    ++line_number;
    WMARK_CHECK(DeclarationLine(line).matches(), file, " is not a wmark checkpoint: its ", record, " line ",
                line_number, " is code, not a declaration (a TorchScript program is opened in the sandbox)");
    has_meta = has_meta || line == "  wmark_meta : str";
    code = end == std::string_view::npos ? std::string_view() : code.substr(end + 1);
  }
  return has_meta;
}

// Walks a pickle's opcodes without building anything, recording which value contains
// which, and fails when the containment nests deeper than kMaxCheckpointPickleDepth or
// refers to itself, or uses an opcode torch::serialize does not write.
class PickleShape {
 public:
  PickleShape(std::string_view pickle, const std::string& record, const std::string& file)
      : p_(pickle), record_(record), file_(file) {}

  void check() {
    for (;;) {
      const auto op = static_cast<unsigned char>(take(1)[0]);
      if (op == '.') break;
      step(op);
    }
    check_depth();
  }

 private:
  static constexpr std::uint32_t kLeaf = 0;  // strings, numbers, globals: contain nothing
  static constexpr std::uint32_t kMark = ~std::uint32_t(0);

  [[noreturn]] void bad(const std::string& why) const {
    WMARK_FAIL(file_, " is not a wmark checkpoint: its ", record_, " ", why);
  }
  std::string_view take(std::uint64_t n) {
    if (n > p_.size() - at_) bad("ends inside an instruction");
    const auto out = p_.substr(at_, n);
    at_ += n;
    return out;
  }
  std::uint64_t le(int n) {
    const auto b = take(n);
    std::uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<unsigned char>(b[k]);
    return v;
  }
  void line() {
    const auto end = p_.find('\n', at_);
    if (end == std::string_view::npos) bad("ends inside a global name");
    at_ = end + 1;
  }

  std::uint32_t node() {
    ++nodes_;
    return nodes_;
  }
  void contain(std::uint32_t parent, std::uint32_t child) {
    if (child != kLeaf) edges_.emplace_back(parent, child);
  }
  std::uint32_t pop() {
    if (stack_.empty() || stack_.back() == kMark) bad("pops from an empty stack");
    const auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::uint32_t top() {
    if (stack_.empty() || stack_.back() == kMark) bad("reads an empty stack");
    return stack_.back();
  }
  std::vector<std::uint32_t> pop_to_mark() {
    std::vector<std::uint32_t> items;
    while (!stack_.empty() && stack_.back() != kMark) items.push_back(pop());
    if (stack_.empty()) bad("has no mark to return to");
    stack_.pop_back();
    return items;
  }
  void push_container(const std::vector<std::uint32_t>& items) {
    const auto n = node();
    for (auto item : items) contain(n, item);
    stack_.push_back(n);
  }
  void memo_put(std::uint64_t index) { memo_[index] = top(); }
  void memo_get(std::uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) bad("refers to memo entry " + std::to_string(index) + " that was never stored");
    stack_.push_back(it->second);
  }

  void step(unsigned char op) {
    switch (op) {
      case 0x80: take(1); break;                          // PROTO
      case 0x95: take(8); break;                          // FRAME
      case 'c': line(); line(); stack_.push_back(kLeaf); break;  // GLOBAL
      case 'J': take(4); stack_.push_back(kLeaf); break;  // BININT
      case 'K': take(1); stack_.push_back(kLeaf); break;  // BININT1
      case 'M': take(2); stack_.push_back(kLeaf); break;  // BININT2
      case 0x8a: take(le(1)); stack_.push_back(kLeaf); break;  // LONG1
      case 'G': take(8); stack_.push_back(kLeaf); break;  // BINFLOAT
      case 'X': case 'B': take(le(4)); stack_.push_back(kLeaf); break;  // BINUNICODE, BINBYTES
      case 0x8c: case 'C': take(le(1)); stack_.push_back(kLeaf); break;  // short forms
      case 'N': case 0x88: case 0x89: stack_.push_back(kLeaf); break;    // None, True, False
      case 'Q': push_container({pop()}); break;           // BINPERSID
      case '(': stack_.push_back(kMark); break;
      case ']': case '}': case ')': push_container({}); break;  // empty list, dict, tuple
      case 'l': case 'd': case 't': push_container(pop_to_mark()); break;  // LIST, DICT, TUPLE
      case 0x85: push_container({pop()}); break;          // TUPLE1
      case 0x86: { auto b = pop(), a = pop(); push_container({a, b}); break; }
      case 0x87: { auto c = pop(), b = pop(), a = pop(); push_container({a, b, c}); break; }
      case 'a': { auto item = pop(); contain(top(), item); break; }  // APPEND
      case 'e': case 'u': {                                           // APPENDS, SETITEMS
        const auto items = pop_to_mark();
        const auto target = top();
        for (auto item : items) contain(target, item);
        break;
      }
      case 's': { auto v = pop(), k = pop(); contain(top(), k); contain(top(), v); break; }  // SETITEM
      case 'b': { auto state = pop(); contain(top(), state); break; }  // BUILD
      case 'R': case 0x81: { auto args = pop(); pop(); push_container({args}); break; }  // REDUCE, NEWOBJ
      case '2': stack_.push_back(top()); break;           // DUP
      case '0': pop(); break;                             // POP
      case '1': pop_to_mark(); break;                     // POP_MARK
      case 'q': memo_put(le(1)); break;                   // BINPUT
      case 'r': memo_put(le(4)); break;                   // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;           // MEMOIZE
      case 'h': memo_get(le(1)); break;                   // BINGET
      case 'j': memo_get(le(4)); break;                   // LONG_BINGET
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        bad(std::string("uses pickle opcode ") + hex + ", which torch::serialize does not write");
      }
    }
  }

  // The longest chain of containment, by an iterative depth-first walk (the pickle is
  // attacker-controlled: no recursion on its shape).
  void check_depth() const {
    const std::uint32_t n = nodes_ + 1;
    std::vector<std::uint32_t> offsets(n + 1, 0), targets(edges_.size());
    for (const auto& e : edges_) ++offsets[e.first + 1];
    for (std::uint32_t i = 0; i < n; ++i) offsets[i + 1] += offsets[i];
    auto fill = offsets;
    for (const auto& e : edges_) targets[fill[e.first]++] = e.second;

    std::vector<std::uint8_t> state(n, 0);  // 0 unseen, 1 on the walk, 2 done
    std::vector<int> depth(n, 1);
    std::vector<std::pair<std::uint32_t, std::uint32_t>> walk;  // node, next edge
    for (std::uint32_t root = 1; root < n; ++root) {
      if (state[root]) continue;
      walk.emplace_back(root, offsets[root]);
      state[root] = 1;
      while (!walk.empty()) {
        auto& [v, next] = walk.back();
        if (next < offsets[v + 1]) {
          const auto child = targets[next++];
          if (state[child] == 1) bad("holds a value that contains itself");
          if (state[child] == 0) {
            state[child] = 1;
            walk.emplace_back(child, offsets[child]);
          } else {
            depth[v] = std::max(depth[v], depth[child] + 1);
          }
          continue;
        }
        state[v] = 2;
        const auto done = v;
        walk.pop_back();
        if (depth[done] > kMaxCheckpointPickleDepth)
          bad("nests values more than " + std::to_string(kMaxCheckpointPickleDepth) + " levels deep");
        if (!walk.empty()) {
          const auto parent = walk.back().first;
          depth[parent] = std::max(depth[parent], depth[done] + 1);
        }
      }
    }
  }

  std::string_view p_;
  const std::string& record_;
  const std::string& file_;
  std::size_t at_ = 0;
  std::uint32_t nodes_ = 0;
  std::vector<std::uint32_t> stack_;
  std::map<std::uint64_t, std::uint32_t> memo_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> edges_;
};

enum class RecordKind { kCode, kPickle, kData };

RecordKind kind_of(const std::string& record, const std::string& file) {
  if (starts_with(record, "code/")) {
    if (ends_with(record, ".py")) return RecordKind::kCode;
    if (ends_with(record, ".debug_pkl")) return RecordKind::kPickle;
  } else if (record == "data.pkl" || record == "constants.pkl") {
    return RecordKind::kPickle;
  } else if (record == "version" || record == ".data/version" || starts_with(record, "data/")) {
    return RecordKind::kData;
  }
  WMARK_FAIL(file, " is not a wmark checkpoint: it holds a record '", record,
             "' that torch::serialize does not write");
}

}  // namespace

void screen_checkpoint(std::string_view archive, const std::string& file) {
  std::vector<std::pair<std::string, std::uint64_t>> to_read;  // code and pickles, with sizes
  std::uint64_t total = 0, read_total = 0;
  for (const auto& entry : zip_directory(archive, file, "a wmark checkpoint", kMaxEntries)) {
    WMARK_CHECK(entry.method == 0 || entry.method == 8, file, ": zip entry ", entry.name,
                " uses compression method ", entry.method, " (only stored and deflated entries are read)");
    WMARK_CHECK(entry.method != 0 || entry.compressed == entry.uncompressed, file, ": zip entry ", entry.name,
                " is stored but declares two sizes");
    WMARK_CHECK(entry.uncompressed <= kMaxCheckpointBytes - total, file, " inflates to more than ",
                kMaxCheckpointBytes >> 30, " GiB; refusing to open it as a checkpoint");
    total += entry.uncompressed;
    const auto slash = entry.name.find('/');
    const auto record = slash == std::string::npos ? entry.name : entry.name.substr(slash + 1);
    if (kind_of(record, file) == RecordKind::kData) continue;
    WMARK_CHECK(entry.uncompressed <= kMaxCheckpointCodeBytes - read_total, file,
                " is not a wmark checkpoint: its code and pickles exceed ", kMaxCheckpointCodeBytes >> 20, " MiB");
    read_total += entry.uncompressed;
    to_read.emplace_back(record, entry.uncompressed);
  }
  bool has_meta = false, has_data = false;
  try {
    caffe2::serialize::PyTorchStreamReader zip(std::make_shared<BytesAdapter>(archive));
    for (const auto& [record, declared] : to_read) {
      auto [bytes, size] = zip.getRecord(record);
      WMARK_CHECK(size == declared, file, ": ", record, " inflates to another size than the zip declares");
      const std::string_view text(static_cast<const char*>(bytes.get()), size);
      if (ends_with(record, ".py")) {
        const bool declares_meta = check_declarations(text, record, file);
        if (record == "code/__torch__.py") has_meta = declares_meta;
      } else {
        PickleShape(text, record, file).check();
        has_data = has_data || record == "data.pkl";
      }
    }
  } catch (const c10::Error& error) {  // the zip reader's own errors (CRC, missing records)
    const std::string message = error.what_without_backtrace();
    WMARK_FAIL(file, " is not a wmark checkpoint: ", message.substr(0, message.find('\n')));
  }
  WMARK_CHECK(has_data && has_meta, file, " is a LibTorch archive but not a wmark checkpoint (no metadata record)");
}

bool passes_checkpoint_screen(std::string_view archive, const std::string& file) {
  try {
    screen_checkpoint(archive, file);
    return true;
  } catch (const Error&) {
    return false;
  }
}

}  // namespace wmark
