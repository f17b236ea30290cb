"""A client of `wmark serve` written with Python's standard library only (urllib), as a
user of the Open Inference Protocol would write it; driven by tests/serve/test_server.cpp.

  serve_client.py URL MODEL IMAGES LABELS

IMAGES holds N uint8 images of 1x28x28, back to back; LABELS a JSON list of the N labels
wmark predicts in process. Sends them as a V2 JSON request, as a V2 request with the
binary tensor data extension, and as a V1 predict request; checks the answers and the
error statuses. Exits 0 when everything matches.
"""
import json
import struct
import sys
import urllib.error
import urllib.request

C, H, W = 1, 28, 28


def call(url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body is not None else "GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def main():
    base, model, images_path, labels_path = sys.argv[1:5]
    with open(images_path, "rb") as f:
        pixels = f.read()
    with open(labels_path) as f:
        expected = json.load(f)
    n = len(expected)
    assert len(pixels) == n * C * H * W, "images file does not hold %d images" % n
    infer = "%s/v2/models/%s/infer" % (base, model)
    failures = 0

    def report(what, labels):
        nonlocal failures
        same = sum(int(a == b) for a, b in zip(labels, expected))
        print("%s: %d/%d labels match" % (what, same, n))
        failures += same != n

    # Server and model metadata.
    status, _, body = call(base + "/v2/health/ready")
    assert status == 200, status
    status, _, body = call("%s/v2/models/%s" % (base, model))
    metadata = json.loads(body)
    assert metadata["inputs"][0]["shape"] == [-1, C, H, W], metadata

    # 1. JSON: UINT8 pixels, flat row-major data, as in the specification's examples.
    request = {"id": "py-json", "inputs": [{"name": "input", "shape": [n, C, H, W], "datatype": "UINT8",
                                            "data": list(pixels)}],
               "outputs": [{"name": "label"}]}
    status, _, body = call(infer, json.dumps(request).encode(), {"Content-Type": "application/json"})
    assert status == 200, (status, body[:200])
    answer = json.loads(body)
    assert answer["id"] == "py-json" and answer["model_name"] == model, answer
    output = answer["outputs"][0]
    assert output["name"] == "label" and output["datatype"] == "INT64" and output["shape"] == [n], output
    report("json", output["data"])

    # 2. Binary tensor data: FP32 pixels in [0,1] after the JSON header; the label comes
    #    back as binary data too (little-endian int64).
    floats = struct.pack("<%df" % len(pixels), *[p / 255.0 for p in pixels])
    header = json.dumps({"inputs": [{"name": "input", "shape": [n, C, H, W], "datatype": "FP32",
                                     "parameters": {"binary_data_size": len(floats)}}],
                         "outputs": [{"name": "label", "parameters": {"binary_data": True}}]}).encode()
    status, headers, body = call(infer, header + floats, {"Content-Type": "application/octet-stream",
                                                          "Inference-Header-Content-Length": str(len(header))})
    assert status == 200, (status, body[:200])
    json_length = int(headers["Inference-Header-Content-Length"])
    answer = json.loads(body[:json_length])
    size = answer["outputs"][0]["parameters"]["binary_data_size"]
    assert size == 8 * n, answer
    report("binary", list(struct.unpack("<%dq" % n, body[json_length:json_length + size])))

    # 3. V1 predict: one nested [C][H][W] array per instance.
    instances = []
    for i in range(n):
        image = pixels[i * H * W:(i + 1) * H * W]
        instances.append([[[image[r * W + c] / 255.0 for c in range(W)] for r in range(H)]])
    status, _, body = call("%s/v1/models/%s:predict" % (base, model), json.dumps({"instances": instances}).encode(),
                           {"Content-Type": "application/json"})
    assert status == 200, (status, body[:200])
    report("v1", [p["label"] for p in json.loads(body)["predictions"]])

    # Errors as the protocol says, with a JSON error body.
    for what, url, payload, want in [
        ("malformed JSON", infer, b"{\"inputs\": [", 400),
        ("wrong datatype", infer, json.dumps({"inputs": [{"name": "input", "shape": [1, C, H, W], "datatype": "BYTES",
                                                           "data": ["x"]}]}).encode(), 400),
        ("unknown model", "%s/v2/models/nope/infer" % base, json.dumps(request).encode(), 404),
    ]:
        status, _, body = call(url, payload, {"Content-Type": "application/json"})
        ok = status == want and "error" in json.loads(body)
        print("%s: %d %s" % (what, status, "ok" if ok else "WRONG"))
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
