#include "torch_save_reader.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "wmark/util/error.h"
#include "zip_directory.h"

namespace wmark {
namespace {

// LibTorch's own unpickler cannot read a Python state dict (it turns
// collections.OrderedDict into None and lacks opcodes such as SETITEM and POP), so this
// reads the subset of pickle that torch.save writes for dicts of tensors: containers,
// strings, numbers, GLOBAL + REDUCE for tensors and OrderedDicts, persistent storage
// ids. Every read is bounds-checked; anything else is refused with its opcode.
//
// The file is the attacker's, so everything it can make the reader do is bounded: the
// zip entries' declared sizes are checked before any is inflated, each storage is read
// once however often the pickle names it, containers nest at most kMaxDepth deep (the
// Values are shared_ptrs, freed recursively) and a container is sealed once it is put
// into another, so the pickle can build neither cycles nor deeper chains through memo
// references.

constexpr int kMaxDepth = 100;                                  // torch.save's dicts nest about 4 deep
constexpr std::size_t kMaxObjects = 1000000;                    // Values made by one pickle
constexpr std::uint64_t kMaxTotalBytes = std::uint64_t(1) << 31;  // all zip entries, inflated
constexpr std::size_t kMaxZipEntries = 65536;
constexpr std::size_t kMaxRank = 64;

struct Value;
using ValuePtr = std::shared_ptr<Value>;
struct Storage {
  std::string key;
  c10::ScalarType dtype = c10::kFloat;
};
struct Value {
  enum class Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor, Mark };
  Kind kind = Kind::None;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<ValuePtr> items;                          // tuple, list
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;   // dict
  Storage storage;
  torch::Tensor tensor;
  int depth = 0;           // 1 + the deepest item for containers (0 with no items)
  bool contained = false;  // inside a container: no longer mutable
};

class TorchSaveReader {
 public:
  // `sizes`: the inflated size of each record, as the zip directory declares it.
  TorchSaveReader(const std::string& pickle, caffe2::serialize::PyTorchStreamReader& zip, std::string file,
                  const std::map<std::string, std::uint64_t>& sizes)
      : data_(pickle), zip_(zip), file_(std::move(file)), sizes_(sizes) {}

  ValuePtr read() {
    while (true) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80: byte(); break;                                  // PROTO
        case 0x95: bytes(8); break;                                // FRAME
        case '.': return pop();                                    // STOP
        case '(': push(make(Value::Kind::Mark)); break;            // MARK
        case 'N': push(make(Value::Kind::None)); break;
        case 0x88: case 0x89: {                                    // NEWTRUE, NEWFALSE
          auto v = make(Value::Kind::Bool);
          v->b = op == 0x88;
          push(v);
          break;
        }
        case 'J': push_int(signed_le(4)); break;                   // BININT
        case 'K': push_int(unsigned_le(1)); break;                 // BININT1
        case 'M': push_int(unsigned_le(2)); break;                 // BININT2
        case 0x8a: push_int(signed_le(unsigned_le(1))); break;     // LONG1
        case 'G': {                                                // BINFLOAT (big-endian)
          std::uint64_t bits = 0;
          for (auto c : bytes(8)) bits = (bits << 8) | static_cast<unsigned char>(c);
          auto v = make(Value::Kind::Float);
          std::memcpy(&v->f, &bits, sizeof(double));
          push(v);
          break;
        }
        case 'X': push_string(bytes(unsigned_le(4))); break;       // BINUNICODE
        case 0x8c: push_string(bytes(unsigned_le(1))); break;      // SHORT_BINUNICODE
        case 'c': {                                                // GLOBAL
          auto module = line();
          auto v = make(Value::Kind::Global);
          v->s = module + "." + line();
          push(v);
          break;
        }
        case 'q': memoize(unsigned_le(1)); break;                  // BINPUT
        case 'r': memoize(unsigned_le(4)); break;                  // LONG_BINPUT
        case 0x94: memoize(memo_.size()); break;                   // MEMOIZE
        case 'h': push(memo(unsigned_le(1))); break;               // BINGET
        case 'j': push(memo(unsigned_le(4))); break;               // LONG_BINGET
        case ')': push(make(Value::Kind::Tuple)); break;           // EMPTY_TUPLE
        case ']': push(make(Value::Kind::List)); break;            // EMPTY_LIST
        case '}': push(make(Value::Kind::Dict)); break;            // EMPTY_DICT
        case 't': push(tuple(until_mark())); break;                // TUPLE
        case 0x85: case 0x86: case 0x87: {                         // TUPLE1..3
          std::vector<ValuePtr> items(op - 0x84);
          for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
          push(tuple(std::move(items)));
          break;
        }
        case 'a': {                                                // APPEND
          auto v = pop();
          auto* target = list(top());
          target->items.push_back(adopt(target, v));
          break;
        }
        case 'e': {                                                // APPENDS
          auto items = until_mark();
          auto* target = list(top());
          for (auto& item : items) target->items.push_back(adopt(target, item));
          break;
        }
        case 's': {                                                // SETITEM
          auto value = pop();
          auto key = pop();
          auto* target = dict(top());
          target->entries.emplace_back(adopt(target, key), adopt(target, value));
          break;
        }
        case 'u': {                                                // SETITEMS
          auto items = until_mark();
          check(items.size() % 2 == 0, "SETITEMS with an odd number of items");
          auto* target = dict(top());
          for (std::size_t k = 0; k < items.size(); k += 2)
            target->entries.emplace_back(adopt(target, items[k]), adopt(target, items[k + 1]));
          break;
        }
        case '0': pop(); break;                                    // POP
        case 'b': pop(); break;  // BUILD: attributes of a dict (a state dict's _metadata) are not needed
        case 'Q': push(persistent(pop())); break;                  // BINPERSID
        case 'R': {                                                // REDUCE
          auto args = pop();
          auto callable = pop();
          push(reduce(callable, args));
          break;
        }
        default: fail("unsupported pickle opcode 0x" + hex(op));
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    WMARK_FAIL(file_, " is not a state dict written by torch.save: ", what, " (at byte ", pos_, " of data.pkl)");
  }
  void check(bool ok, const std::string& what) const {
    if (!ok) fail(what);
  }
  static std::string hex(unsigned value) {
    std::ostringstream os;
    os << std::hex << value;
    return os.str();
  }
  char byte() {
    check(pos_ < data_.size(), "truncated pickle");
    return data_[pos_++];
  }
  std::string bytes(std::size_t n) {
    check(n <= data_.size() - pos_, "truncated pickle");
    pos_ += n;
    return data_.substr(pos_ - n, n);
  }
  std::uint64_t unsigned_le(std::size_t n) {
    std::uint64_t value = 0;
    const auto raw = bytes(n);
    for (std::size_t k = 0; k < n; ++k) value |= static_cast<std::uint64_t>(static_cast<unsigned char>(raw[k])) << (8 * k);
    return value;
  }
  std::int64_t signed_le(std::size_t n) {
    check(n <= 8, "integer wider than 64 bits");
    if (n == 0) return 0;
    auto value = unsigned_le(n);
    if (n < 8 && (value >> (8 * n - 1)) & 1) value |= ~std::uint64_t(0) << (8 * n);  // sign-extend
    return static_cast<std::int64_t>(value);
  }
  std::string line() {
    const auto end = data_.find('\n', pos_);
    check(end != std::string::npos, "truncated GLOBAL");
    auto text = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return text;
  }
  ValuePtr make(Value::Kind kind) {
    check(++objects_ <= kMaxObjects, "more than " + std::to_string(kMaxObjects) + " objects (the limit)");
    auto v = std::make_shared<Value>();
    v->kind = kind;
    return v;
  }
  // `child` goes into `container`: it is sealed, and the container's depth grows past it.
  const ValuePtr& adopt(Value* container, const ValuePtr& child) {
    check(child.get() != container, "a container inside itself");
    check(!container->contained, "a container changed after it was put into another");
    container->depth = std::max(container->depth, child->depth + 1);
    check(container->depth <= kMaxDepth,
          "containers nested deeper than " + std::to_string(kMaxDepth) + " levels (the limit)");
    child->contained = true;
    return child;
  }
  void memoize(std::uint64_t index) {
    check(memo_.size() < kMaxObjects, "more than " + std::to_string(kMaxObjects) + " memo entries (the limit)");
    memo_[index] = top();
  }
  void push(ValuePtr v) {
    check(stack_.size() < kMaxObjects, "pickle stack too deep");
    stack_.push_back(std::move(v));
  }
  void push_int(std::int64_t i) {
    auto v = make(Value::Kind::Int);
    v->i = i;
    push(v);
  }
  void push_string(std::string s) {
    auto v = make(Value::Kind::String);
    v->s = std::move(s);
    push(v);
  }
  ValuePtr pop() {
    check(!stack_.empty() && stack_.back()->kind != Value::Kind::Mark, "pickle stack underflow");
    auto v = stack_.back();
    stack_.pop_back();
    return v;
  }
  ValuePtr top() {
    check(!stack_.empty(), "pickle stack underflow");
    return stack_.back();
  }
  ValuePtr memo(std::uint64_t index) {
    const auto it = memo_.find(index);
    check(it != memo_.end(), "reference to an unknown memo entry");
    return it->second;
  }
  std::vector<ValuePtr> until_mark() {
    std::vector<ValuePtr> items;
    while (true) {
      check(!stack_.empty(), "MARK missing");
      auto v = stack_.back();
      stack_.pop_back();
      if (v->kind == Value::Kind::Mark) break;
      items.push_back(v);
    }
    return {items.rbegin(), items.rend()};
  }
  ValuePtr tuple(std::vector<ValuePtr> items) {
    auto v = make(Value::Kind::Tuple);
    for (const auto& item : items) adopt(v.get(), item);
    v->items = std::move(items);
    return v;
  }
  Value* list(const ValuePtr& v) {
    check(v->kind == Value::Kind::List, "APPEND to something that is not a list");
    return v.get();
  }
  Value* dict(const ValuePtr& v) {
    check(v->kind == Value::Kind::Dict, "SETITEM on something that is not a dict");
    return v.get();
  }
  std::int64_t integer(const ValuePtr& v) {
    check(v->kind == Value::Kind::Int, "an integer was expected");
    return v->i;
  }
  std::vector<std::int64_t> integers(const ValuePtr& v) {
    check(v->kind == Value::Kind::Tuple, "a tuple of integers was expected");
    std::vector<std::int64_t> out;
    for (const auto& item : v->items) out.push_back(integer(item));
    return out;
  }

  // ('storage', torch.FloatStorage, key, location, numel)
  ValuePtr persistent(const ValuePtr& id) {
    check(id->kind == Value::Kind::Tuple && id->items.size() >= 3 && id->items[0]->s == "storage" &&
              id->items[1]->kind == Value::Kind::Global && id->items[2]->kind == Value::Kind::String,
          "a persistent id that is not a tensor storage");
    static const std::map<std::string, c10::ScalarType> kTypes{
        {"torch.FloatStorage", c10::kFloat},   {"torch.DoubleStorage", c10::kDouble},
        {"torch.HalfStorage", c10::kHalf},     {"torch.BFloat16Storage", c10::kBFloat16},
        {"torch.LongStorage", c10::kLong},     {"torch.IntStorage", c10::kInt},
        {"torch.ShortStorage", c10::kShort},   {"torch.CharStorage", c10::kChar},
        {"torch.ByteStorage", c10::kByte},     {"torch.BoolStorage", c10::kBool}};
    const auto type = kTypes.find(id->items[1]->s);
    check(type != kTypes.end(), "unsupported storage type " + id->items[1]->s);
    auto v = make(Value::Kind::Storage);
    v->storage = {id->items[2]->s, type->second};
    return v;
  }

  // The elements of a storage, read and inflated once however often the pickle names it.
  torch::Tensor storage(const Storage& id) {
    const auto cached = storages_.find(id.key);
    if (cached != storages_.end()) {
      check(cached->second.scalar_type() == id.dtype, "storage data/" + id.key + " used with two dtypes");
      return cached->second;
    }
    const auto record = "data/" + id.key;
    const auto declared = sizes_.find(record);
    check(declared != sizes_.end() && zip_.hasRecord(record), "tensor data " + record + " is missing");
    auto [data, bytes] = zip_.getRecord(record);
    check(bytes == declared->second, "tensor data " + record + " inflates to another size than the zip declares");
    const auto element = c10::elementSize(id.dtype);
    const auto numel = static_cast<std::int64_t>(bytes / element);
    auto flat = torch::empty({numel}, torch::TensorOptions().dtype(id.dtype));
    std::memcpy(flat.data_ptr(), data.get(), static_cast<std::size_t>(numel) * element);
    storages_.emplace(id.key, flat);
    return flat;
  }

  ValuePtr reduce(const ValuePtr& callable, const ValuePtr& args) {
    check(callable->kind == Value::Kind::Global && args->kind == Value::Kind::Tuple, "REDUCE of a non-global");
    if (callable->s == "collections.OrderedDict") return make(Value::Kind::Dict);
    if (callable->s == "torch.jit._pickle.restore_type_tag") {  // LibTorch's typed dicts: the value as is
      check(!args->items.empty(), "a malformed type tag");
      return args->items[0];
    }
    if (callable->s == "torch._utils._rebuild_tensor_v2") {
      const auto& a = args->items;
      check(a.size() >= 4 && a[0]->kind == Value::Kind::Storage, "a malformed tensor");
      const auto offset = integer(a[1]);
      const auto size = integers(a[2]);
      const auto stride = integers(a[3]);
      check(size.size() == stride.size() && size.size() <= kMaxRank,
            "a tensor whose size and stride differ in rank, or of a rank above " + std::to_string(kMaxRank));
      const auto flat = storage(a[0]->storage);
      const auto numel = flat.numel();
      // The view may not hold more elements than its storage, and the largest element it
      // reaches must lie inside it (bounds checked before any multiplication can overflow).
      const bool empty = std::find(size.begin(), size.end(), 0) != size.end();
      check(offset >= 0 && offset <= numel, "a tensor reaching past its storage (data/" + a[0]->storage.key + ")");
      std::int64_t count = 1, last = offset;
      for (std::size_t d = 0; d < size.size(); ++d) {
        check(size[d] >= 0 && stride[d] >= 0 && size[d] <= numel && stride[d] <= numel,
              "a tensor with a negative or out-of-range size or stride");
        count = empty ? 0 : std::min<std::int64_t>(count * size[d], numel + 1);
        if (!empty) last += (size[d] - 1) * stride[d];
        check(empty || (count <= numel && last < numel),
              "a tensor reaching past its storage (data/" + a[0]->storage.key + ")");
      }
      // A view: tensors sharing a storage in the file share it here too, as in PyTorch.
      auto v = make(Value::Kind::Tensor);
      v->tensor = flat.as_strided(size, stride, offset);
      return v;
    }
    fail("unsupported object " + callable->s);
  }

  const std::string& data_;
  caffe2::serialize::PyTorchStreamReader& zip_;
  std::string file_;
  const std::map<std::string, std::uint64_t>& sizes_;
  std::size_t pos_ = 0;
  std::size_t objects_ = 0;
  std::vector<ValuePtr> stack_;
  std::map<std::uint64_t, ValuePtr> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

// The inflated size of each record (names without the archive's top folder), after
// checking the declared sizes against the limit: nothing is inflated before this.
std::map<std::string, std::uint64_t> checked_record_sizes(const std::string& bytes, const std::string& file) {
  std::map<std::string, std::uint64_t> sizes;
  std::uint64_t total = 0;
  for (const auto& entry : zip_directory(bytes, file, "a file written by torch.save", kMaxZipEntries)) {
    WMARK_CHECK(entry.method == 0 || entry.method == 8, file, ": zip entry ", entry.name,
                " uses compression method ", entry.method, " (only stored and deflated entries are read)");
    WMARK_CHECK(entry.method != 0 || entry.compressed == entry.uncompressed, file, ": zip entry ", entry.name,
                " is stored but declares two sizes");
    WMARK_CHECK(entry.uncompressed <= kMaxTotalBytes - total, file, ": zip entry ", entry.name, " declares ",
                entry.uncompressed, " bytes, which takes the file past the limit of ", kMaxTotalBytes,
                " bytes; refusing to inflate it");
    total += entry.uncompressed;
    const auto slash = entry.name.find('/');
    const auto name = slash == std::string::npos ? entry.name : entry.name.substr(slash + 1);
    WMARK_CHECK(sizes.emplace(name, entry.uncompressed).second, file, ": zip entry ", entry.name, " appears twice");
  }
  return sizes;
}

}  // namespace

std::map<std::string, torch::Tensor> read_torch_save_dict(const std::string& bytes, const std::string& file) {
  const auto sizes = checked_record_sizes(bytes, file);
  try {
    std::istringstream stream(bytes);
    auto zip = std::make_unique<caffe2::serialize::PyTorchStreamReader>(&stream);
    WMARK_CHECK(zip->hasRecord("data.pkl") && sizes.count("data.pkl"), file,
                " is not a file written by torch.save (no data.pkl)");
    auto [data, size] = zip->getRecord("data.pkl");
    WMARK_CHECK(size == sizes.at("data.pkl"), file, ": data.pkl inflates to another size than the zip declares");
    const std::string pickle(static_cast<const char*>(data.get()), size);
    const auto value = TorchSaveReader(pickle, *zip, file, sizes).read();
    WMARK_CHECK(value->kind == Value::Kind::Dict, file,
                " does not hold a dict of tensors (save model.state_dict(), not the model)");
    std::map<std::string, torch::Tensor> out;
    for (const auto& [key, tensor] : value->entries) {
      WMARK_CHECK(key->kind == Value::Kind::String && tensor->kind == Value::Kind::Tensor, file,
                  " is not a state dict: its entries must map names to tensors");
      out[key->s] = tensor->tensor;
    }
    return out;
  } catch (const c10::Error& error) {  // the zip reader's own errors (not a zip, CRC, missing records)
    const std::string message = error.what_without_backtrace();
    WMARK_FAIL(file, " is not a file written by torch.save: ", message.substr(0, message.find('\n')));
  }
}

}  // namespace wmark
