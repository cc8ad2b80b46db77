# Random valid GGML blocks of every type quantized.c supports, with gguf-py's dequantisation,
# for Benchmarks/quantized_check.c (which compares xai_quantized_* against them):
#   .venv/bin/python Benchmarks/quantized_check.py /tmp/xai-quant-check [seed]
import os, sys, numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize
from gguf.constants import GGML_QUANT_SIZES

out = sys.argv[1] if len(sys.argv) > 1 else '/tmp/xai-quant-check'
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
# f16 scale fields: byte offsets of each f16 in a block
scale_fields = {T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
                T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}

def rand_half(n):
    mag = np.exp(rng.uniform(np.log(1e-4), np.log(0.2), n))
    h = (mag * rng.choice([-1, 1], n)).astype(np.float16)
    sub = rng.random(n) < 0.05       # some subnormal scales
    h[sub] = (rng.integers(1, 1024, sub.sum()).astype(np.uint16)).view(np.float16)
    return h

def make(qtype, rows, cols):
    bs, tb = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        data = rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint8)
    elif qtype == T.F16:
        data = rng.standard_normal((rows, cols)).astype(np.float16).view(np.uint8)
    elif qtype == T.BF16:
        b = (rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        data = b.view(np.uint8)
    else:
        nb = cols // bs
        data = rng.integers(0, 256, (rows, nb, tb), dtype=np.uint8)
        for off in scale_fields[qtype]:
            data[:, :, off:off + 2] = rand_half(rows * nb).view(np.uint8).reshape(rows, nb, 2)
        data = data.reshape(rows, nb * tb)
    deq = dequantize(np.ascontiguousarray(data), qtype).astype(np.float32).reshape(rows, cols)
    return np.ascontiguousarray(data), deq

cases = [(T.F32, 7, 45), (T.F16, 9, 77), (T.BF16, 5, 100), (T.F32, 13, 64), (T.F16, 6, 3)]
for q in [T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]:
    cases += [(q, 13, 96), (q, 8, 576), (q, 37, 1536)]
for q in [T.Q4_K, T.Q5_K, T.Q6_K]:
    cases += [(q, 11, 256), (q, 9, 768), (q, 21, 1536)]
with open(f'{out}/cases.txt', 'w') as f:
    for i, (q, r, c) in enumerate(cases):
        data, deq = make(q, r, c)
        data.tofile(f'{out}/case{i}.q'); deq.tofile(f'{out}/case{i}.f32')
        f.write(f'{i} {int(q)} {r} {c}\n')
print(len(cases), 'cases')
