// Encoding and decoding of the Open Inference Protocol (JSON and binary) and V1, with
// the request and response examples of the protocol specification's shape.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "wmark/protocol/inference_protocol.h"
#include "wmark/protocol/model_metadata.h"

using namespace wmark;
using namespace wmark::protocol;
using json = nlohmann::json;

namespace {

int status_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ProtocolError& error) {
    return error.status();
  }
  return 0;
}

Body json_body(const json& document) { return {document.dump(), std::nullopt}; }

}  // namespace

TEST_CASE("a V2 request round-trips as JSON and as binary tensor data", "[protocol]") {
  auto images = torch::rand({3, 1, 4, 4});
  for (bool binary : {false, true}) {
    InferRequest request{"req-1", {{"input", images, binary}}, {{"label", binary}}, false};
    const auto body = encode_infer_request(request);
    CHECK(body.json_length.has_value() == binary);
    CHECK(body.content_type() == (binary ? "application/octet-stream" : "application/json"));
    const auto decoded = decode_infer_request(body);
    CHECK(decoded.id == "req-1");
    REQUIRE(decoded.inputs.size() == 1);
    CHECK(decoded.inputs[0].name == "input");
    CHECK(decoded.inputs[0].binary == binary);
    CHECK(decoded.inputs[0].data.sizes() == images.sizes());
    // JSON numbers carry a float exactly (17 significant digits); binary is byte for byte.
    CHECK(torch::equal(decoded.inputs[0].data, images));
    REQUIRE(decoded.outputs.size() == 1);
    CHECK(decoded.outputs[0].name == "label");
    CHECK(decoded.outputs[0].binary == binary);
  }
}

TEST_CASE("a V2 request as the specification writes it: nested or flat data, UINT8", "[protocol]") {
  // The specification's example form: {"inputs": [{"name", "shape", "datatype", "data"}]}.
  const json nested = {{"inputs", {{{"name", "input"}, {"shape", {1, 1, 2, 3}}, {"datatype", "UINT8"},
                                    {"data", {{{{0, 1, 2}, {253, 254, 255}}}}}}}}};
  const json flat = {{"inputs", {{{"name", "input"}, {"shape", {1, 1, 2, 3}}, {"datatype", "UINT8"},
                                  {"data", {0, 1, 2, 253, 254, 255}}}}}};
  const auto a = decode_infer_request(json_body(nested));
  const auto b = decode_infer_request(json_body(flat));
  CHECK(a.inputs[0].data.scalar_type() == torch::kUInt8);
  CHECK(torch::equal(a.inputs[0].data, b.inputs[0].data));
  CHECK(a.inputs[0].data.flatten()[5].item<int>() == 255);
  CHECK(a.outputs.empty());
}

TEST_CASE("a V2 response round-trips with mixed JSON and binary outputs", "[protocol]") {
  auto scores = torch::randn({5, 10});
  auto labels = scores.argmax(1);
  InferResponse response{"mnist", "1", "x", {{"scores", scores, true}, {"label", labels, false}}};
  const auto body = encode_infer_response(response);
  REQUIRE(body.json_length.has_value());
  CHECK(body.bytes.size() == *body.json_length + 5 * 10 * sizeof(float));
  const auto header = json::parse(body.bytes.substr(0, *body.json_length));
  CHECK(header["outputs"][0]["parameters"]["binary_data_size"] == 200);
  CHECK(header["outputs"][1]["datatype"] == "INT64");
  const auto decoded = decode_infer_response(body);
  CHECK(decoded.model_name == "mnist");
  CHECK(decoded.model_version == "1");
  CHECK(torch::equal(decoded.outputs[0].data, scores));
  CHECK(torch::equal(decoded.outputs[1].data, labels));
}

TEST_CASE("malformed V2 requests are 400 and oversized ones 413, before any allocation", "[protocol]") {
  auto input = [](json fields) {
    json entry = {{"name", "input"}, {"shape", {1, 2}}, {"datatype", "FP32"}, {"data", {1.0, 2.0}}};
    entry.update(fields);
    return json{{"inputs", {entry}}};
  };
  CHECK(status_of([] { decode_infer_request({"{not json", std::nullopt}); }) == 400);
  CHECK(status_of([] { decode_infer_request({"[1,2]", std::nullopt}); }) == 400);
  CHECK(status_of([] { decode_infer_request(json_body({{"inputs", json::array()}})); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"datatype", "FP17"}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"datatype", 3}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"shape", {1, 3}}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"shape", {1, -2}}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"data", {1.0, "two"}}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"datatype", "UINT8"}, {"data", {1, 256}}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"datatype", "UINT8"}, {"data", {1, 2.5}}}))); }) == 400);
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"name", 7}}))); }) == 400);
  // A huge shape with a tiny body: refused by the element limit, nothing allocated.
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"shape", {1ll << 40, 1ll << 40}}}))); }) == 413);
  DecodeLimits small;
  small.max_elements = 1;
  CHECK(status_of([&] { decode_infer_request(json_body(input(json::object())), small); }) == 413);
  // Deeply nested data is refused, not recursed into.
  json deep = 1.0;
  for (int i = 0; i < 100; ++i) deep = json::array({deep});
  CHECK(status_of([&] { decode_infer_request(json_body(input({{"shape", {1}}, {"data", deep}}))); }) == 400);
}

TEST_CASE("binary tensor data sizes are checked against shape, header and body", "[protocol]") {
  InferRequest request{"", {{"input", torch::ones({2, 3}), true}}, {}, false};
  const auto good = encode_infer_request(request);
  CHECK_NOTHROW(decode_infer_request(good));
  auto truncated = good;
  truncated.bytes.pop_back();
  CHECK(status_of([&] { decode_infer_request(truncated); }) == 400);
  auto extra = good;
  extra.bytes += "xx";
  CHECK(status_of([&] { decode_infer_request(extra); }) == 400);
  auto past_end = good;
  past_end.json_length = good.bytes.size() + 1;
  CHECK(status_of([&] { decode_infer_request(past_end); }) == 400);
  auto no_header = good;
  no_header.json_length.reset();  // the JSON parser then sees the binary bytes
  CHECK(status_of([&] { decode_infer_request(no_header); }) == 400);
  // binary_data_size disagreeing with the shape.
  auto header = json::parse(good.bytes.substr(0, *good.json_length));
  header["inputs"][0]["parameters"]["binary_data_size"] = 20;
  Body wrong_size{header.dump() + good.bytes.substr(*good.json_length), header.dump().size()};
  CHECK(status_of([&] { decode_infer_request(wrong_size); }) == 400);
}

TEST_CASE("V1 requests and predictions in the forms servers use", "[protocol]") {
  auto batch = torch::rand({2, 1, 3, 3});
  const auto body = encode_v1_request(batch);
  const auto document = json::parse(body);
  CHECK(document["instances"].size() == 2);
  CHECK(document["instances"][0].size() == 1);        // channels
  CHECK(document["instances"][0][0].size() == 3);     // rows
  CHECK(document["instances"][0][0][0].size() == 3);  // columns
  CHECK(torch::equal(decode_v1_request(body), batch));
  // Named single input ({"input": ...}) per instance, and the columnar {"inputs": ...}.
  CHECK(decode_v1_request(R"({"instances": [{"input": [[1, 2]]}, {"input": [[3, 4]]}]})").sizes() ==
        torch::IntArrayRef({2, 1, 2}));
  CHECK(decode_v1_request(R"({"inputs": [[1, 2], [3, 4]]})").sizes() == torch::IntArrayRef({2, 2}));
  CHECK(status_of([] { decode_v1_request(R"({"instances": [[1, 2], [3]]})"); }) == 400);
  CHECK(status_of([] { decode_v1_request(R"({"instances": [["a"]]})"); }) == 400);
  CHECK(status_of([] { decode_v1_request(R"({"instances": []})"); }) == 400);
  CHECK(status_of([] { decode_v1_request(R"({"nothing": 1})"); }) == 400);

  auto scores = torch::tensor({{0.1f, 0.9f}, {0.8f, 0.2f}});
  CHECK(torch::equal(decode_v1_predictions(encode_v1_response(scores, scores.argmax(1))), torch::tensor({1, 0}).to(torch::kLong)));
  // Bare labels, score arrays and TF-Serving style objects.
  CHECK(torch::equal(decode_v1_predictions(R"({"predictions": [3, [0.1, 0.7, 0.2], {"probabilities": [0.9, 0.1]}, {"classes": 4}]})"),
                     torch::tensor({3, 1, 0, 4}).to(torch::kLong)));
  CHECK(status_of([] { decode_v1_predictions(R"({"error": "model not loaded"})"); }) == 400);
  CHECK(status_of([] { decode_v1_predictions(R"({"predictions": ["cat"]})"); }) == 400);
}

TEST_CASE("JSON is bounded in depth and values before a tree is built, and never echoed", "[protocol]") {
  // The request that took wmark serve down: 200,000 levels inside "shape" after a
  // count past the limit (the 413 message used to print the shape, recursively).
  const std::string deep_shape = R"({"inputs":[{"name":"input","datatype":"FP32","data":[0],"shape":[1000000000,)" +
                                 std::string(200000, '[') + "1" + std::string(200000, ']') + "]}]}";
  CHECK(status_of([&] { decode_infer_request({deep_shape, std::nullopt}); }) == 400);
  try {
    decode_infer_request({deep_shape, std::nullopt});
  } catch (const ProtocolError& error) {
    CHECK(std::string(error.what()).find("nested deeper than 32") != std::string::npos);
  }
  // Deep V1 instances and deep responses, for the client.
  const std::string deep_v1 = "{\"instances\": " + std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK(status_of([&] { decode_v1_request(deep_v1); }) == 400);
  CHECK(status_of([&] { decode_v1_predictions(deep_v1); }) == 400);
  CHECK(status_of([&] { decode_infer_response({"{\"outputs\": " + std::string(50000, '[') + "}", std::nullopt}); }) ==
        400);
  // Brackets inside strings do not count; escaped quotes do not end a string.
  DecodeLimits shallow;
  shallow.max_json_depth = 4;
  CHECK_NOTHROW(check_json_limits(R"({"a": "[[[[[[\"[[[[", "b": [[1]]})", shallow, "test"));
  CHECK(status_of([&] { check_json_limits(R"({"a": [[[[1]]]]})", shallow, "test"); }) == 400);
  // More values than the limit: 413 before parsing (a tree costs ~16 bytes a value).
  DecodeLimits few;
  few.max_json_values = 100;
  std::string many = "[0";
  for (int i = 0; i < 200; ++i) many += ",0";
  many += "]";
  CHECK(status_of([&] { check_json_limits(many, few, "test"); }) == 413);
  const json request = {{"inputs", {{{"name", "input"}, {"shape", {1, 201}}, {"datatype", "FP32"}, {"data", json::parse(many)}}}}};
  CHECK(status_of([&] { decode_infer_request(json_body(request), few); }) == 413);
  // Names the client chose are not repeated in messages.
  const std::string name(5000, 'Q');
  try {
    decode_infer_request(json_body({{"inputs", {{{"name", name}, {"shape", {1}}, {"datatype", "NOPE"}, {"data", {1}}}}}}));
    FAIL("accepted an unknown datatype");
  } catch (const ProtocolError& error) {
    CHECK(std::string(error.what()).find("QQQQ") == std::string::npos);
    CHECK(std::string(error.what()).find("NOPE") == std::string::npos);
  }
  // An error body stays valid JSON when a message is cut inside a UTF-8 character.
  CHECK(json::parse(error_body(std::string("caf\xc3", 4)))["error"].is_string());
}

TEST_CASE("model metadata from an untrusted server: read when well formed, refused otherwise", "[protocol]") {
  const auto metadata = decode_v2_model_metadata(
      R"({"name": "m", "inputs": [{"name": "x", "datatype": "UINT8", "shape": [-1, 1, 28, 28]}],
          "outputs": [{"name": "scores", "datatype": "FP32", "shape": [-1, 10]},
                      {"name": "label", "datatype": "INT64", "shape": [-1]}]})");
  CHECK(metadata.input_name == "x");
  CHECK(metadata.input_datatype == "UINT8");
  CHECK(metadata.input_shape == std::vector<std::int64_t>{-1, 1, 28, 28});
  REQUIRE(metadata.label_output);
  CHECK(*metadata.label_output == "label");
  CHECK_FALSE(decode_v2_model_metadata(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]})")
                  .label_output);

  const auto refused = [](const std::string& body, const std::string& why) {
    INFO(body.substr(0, 80));
    CHECK_THROWS_WITH(decode_v2_model_metadata(body), Catch::Contains(why));
  };
  refused("not json", "not an Open Inference Protocol metadata object");
  refused(R"({"outputs": []})", "not an Open Inference Protocol metadata object");
  refused(R"({"inputs": [{"name": "a", "datatype": "FP32", "shape": [1]}, {"name": "b", "datatype": "FP32", "shape": [1]}]})",
          "2 inputs");
  refused(R"({"inputs": [{"name": 5, "datatype": "FP32", "shape": [1]}]})", "name, datatype");
  refused(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 2, 3, 4, 5, 6, 7, 8, 9]}]})", "at most 8");
  refused(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, "28"]}]})", "not an integer");
  refused(R"({"inputs": [{"name": "x", "datatype": "FP32", "shape": )" + std::string(5000, '[') + std::string(5000, ']') +
              "}]}",
          "nested deeper");
  // Nothing the server sent is echoed into the message.
  try {
    decode_v2_model_metadata(R"({"inputs": [{"name": "SECRET-NAME", "datatype": "FP32", "shape": ["SECRET"]}]})");
    FAIL("not refused");
  } catch (const ProtocolError& e) {
    CHECK(std::string(e.what()).find("SECRET") == std::string::npos);
  }
}

TEST_CASE("JSON bodies carry every value exactly, a float as its shortest decimal", "[protocol]") {
  // Floats that stress a decimal writer: tenths, the extremes, a subnormal, negative zero.
  const auto floats = torch::tensor({0.1f, -1.2345678f, 3.4028235e38f, 1.17549435e-38f, 1e-45f, -0.0f, 16777217.0f,
                                     0.3f, 2.5f, -7.0f / 3.0f});
  InferRequest request{"", {{"input", floats, false}}, {}, false};
  auto body = encode_infer_request(request);
  CHECK(body.bytes.find("0.1,") != std::string::npos);  // not 0.10000000149011612
  CHECK(torch::equal(decode_infer_request(body).inputs[0].data, floats));
  CHECK(std::signbit(decode_infer_request(body).inputs[0].data[5].item<float>()));

  // A batch of normalised colour images: each value in about 10 characters, not 19.
  torch::manual_seed(4);
  const auto images = (torch::randint(0, 256, {8, 3, 32, 32}).to(torch::kFloat) / 255.0 - 0.47) / 0.25;
  body = encode_infer_request({"", {{"input", images, false}}, {}, false});
  CHECK(static_cast<double>(body.bytes.size()) / static_cast<double>(images.numel()) < 12.0);
  CHECK(torch::equal(decode_infer_request(body).inputs[0].data, images));
  const auto v1 = encode_v1_request(images);
  CHECK(torch::equal(decode_v1_request(v1), images));

  // Every datatype at its extremes, in a request and in a response.
  const std::vector<at::Tensor> extremes = {
      torch::tensor({0, 255}).to(torch::kUInt8),
      torch::tensor({-128, 127}).to(torch::kInt8),
      torch::tensor({-32768, 32767}).to(torch::kInt16),
      torch::tensor({std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max()}),
      torch::tensor({std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}),
      torch::tensor({std::numeric_limits<double>::max(), 5e-324, -0.1, 1.0 / 3.0}, torch::kDouble),
      torch::tensor({true, false})};
  for (const auto& values : extremes) {
    INFO(values.scalar_type());
    const auto decoded = decode_infer_request(encode_infer_request({"", {{"x", values, false}}, {}, false}));
    CHECK(decoded.inputs[0].data.scalar_type() == values.scalar_type());
    CHECK(torch::equal(decoded.inputs[0].data, values));
    const auto answered = decode_infer_response(encode_infer_response({"m", "", "", {{"y", values, false}}}));
    CHECK(torch::equal(answered.outputs[0].data, values));
  }
  // V1 instances of every rank: scalars (as one-element arrays), vectors, images.
  for (const auto& batch : {torch::rand({3}), torch::rand({3, 4}), torch::rand({2, 1, 1, 5})}) {
    CHECK(torch::equal(decode_v1_request(encode_v1_request(batch)).reshape(batch.sizes()), batch));
  }
  // JSON has no NaN: it is written null, and a server refuses null as an FP32 value.
  const auto nan = torch::tensor({1.0f, std::nanf("")});
  body = encode_infer_request({"", {{"input", nan, false}}, {}, false});
  CHECK(body.bytes.find("null") != std::string::npos);
  CHECK(status_of([&] { decode_infer_request(body); }) == 400);
}

TEST_CASE("JSON the reader refuses: repeated member names, invalid UTF-8, broken text", "[protocol]") {
  const auto request = [](const std::string& text) { decode_infer_request({text, std::nullopt}); };
  const std::string valid = R"({"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[1.5]}]})";
  CHECK_NOTHROW(request(valid));
  // A repeated name would let two readers of one body (a proxy, the server) see two requests.
  const std::string twice = R"({"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[1.5],"data":[9]}]})";
  CHECK(status_of([&] { request(twice); }) == 400);
  try {
    request(R"({"inputs":[],"SECRETNAME":1,"SECRETNAME":2})");
  } catch (const ProtocolError& error) {
    CHECK(std::string(error.what()).find("SECRETNAME") == std::string::npos);
    CHECK(std::string(error.what()).find("twice") != std::string::npos);
  }
  CHECK(status_of([&] { request(std::string(R"({"inputs":[{"name":"in)") + "\xff\xfe" + R"(put"}]})"); }) == 400);
  CHECK(status_of([&] { request(valid.substr(0, valid.size() - 3)); }) == 400);
  CHECK(status_of([&] { request(valid + "x"); }) == 400);
  CHECK(status_of([&] { request(R"({"inputs":[{"name":"input","shape":[1],"datatype":"FP32","data":[1.5e999]}]})"); }) ==
        400);
  CHECK(status_of([&] { request(""); }) == 400);
}
