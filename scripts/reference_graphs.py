"""Writes Tests/AttributionTests/Fixtures/graph-walks.json: GNN-LRP walk relevances
from the masked definition in PyTorch (one backward pass per walk, only node j_l
carrying gradient at layer l, each layer rewritten as Zp·(Z/Zp).detach() with
Zp from W + γ·max(W, 0)), for the sample GraphNet and GCN on sample graphs and for
small random models.

The expected values (logits, walks) are computed in float64. The same computation is then
run again in float32 (same code, same target, torch's default kernels, 2 threads) under
FLOAT32_ORDERS summation orders: as given, and with the hidden units permuted and the nodes
renumbered (the same function exactly, summed in other orders), and each case records under
`float32_deviation` the largest deviation from float64 over those orders:
{"logits": max |Δ|, "walks": max over walks of |Δ relevance|}. One order is one sample of
float32's rounding on the input; the largest of several is a steadier measure of how far
any float32 implementation may land, whatever order its kernels sum in. Each case also records
`amplification`: for every message-passing layer and then the output projection, the
largest |Z/Zp| (float64) over the entries where the rewritten ratio is used, the factor by
which rounding errors of Zp can grow. A case may set `epsilon` (absent = 0): the LRP-ε
stabiliser Zp ← Zp + ε·sign(Zp) (sign(0) = +1) applied to every Zp before the ratio.
The last cases are ill-conditioned on purpose (an output-layer ratio in the thousands),
with and without ε. Run through `make reference`.
"""

import itertools
import json
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "Tests" / "AttributionTests" / "Fixtures"
MODELS = ROOT / "samples" / "models"
DATA = ROOT / "samples" / "data"


def adjacency(n, edges, normalize, dtype=torch.float64):
    a = torch.eye(n, dtype=dtype)
    for u, v in edges:
        if u != v:
            a[u, v] = a[v, u] = 1
    if normalize == "sym":
        d = a.sum(1).rsqrt()
        a = d[:, None] * a * d[None, :]
    return a


def network(model, dtype=torch.float64):
    config, t = model["config"], model["tensors"]
    get = lambda name: torch.tensor(t[name]["data"], dtype=dtype).view(t[name]["shape"])
    if config["model_type"] == "graphnet":
        layers = [get(f"W{i + 1}") for i in range(config["num_layers"])]
        return {"U": get("U"), "W": layers, "V": get("V"), "bias": None,
                "final_relu": config.get("final_relu", True), "config": config}
    layers = [get(f"layers.{i}.theta") for i in range(config["num_layers"])]
    return {"U": None, "W": layers, "V": get("classifier.weight").T, "bias": get("classifier.bias"),
            "final_relu": False, "config": config}


def features(net, graph, dtype=torch.float64):
    config = net["config"]
    n = graph["num_nodes"]
    kind = config.get("node_features", "given" if config["model_type"] == "gcn" else "constant")
    if kind == "constant":
        return torch.ones(n, config["in_dim"], dtype=dtype)
    if kind == "identity":
        return torch.eye(n, dtype=dtype)
    if graph.get("features") is not None:
        return torch.tensor(graph["features"], dtype=dtype)
    elements = config["elements"]
    x = torch.zeros(n, len(elements), dtype=dtype)
    for i, symbol in enumerate(graph["node_labels"]):
        x[i, elements.index(symbol) if symbol in elements else elements.index("other")] = 1
    return x


def stabilised(zp, epsilon):
    """LRP-ε on the denominator, sign-preserving: Zp + ε·(1 if Zp ≥ 0 else −1)."""
    return zp + epsilon * torch.where(zp >= 0, 1.0, -1.0).to(zp.dtype) if epsilon else zp


def ratio_used(z, zp, gated):
    """Where the rewritten ratio Z/Zp is used (elsewhere the output is 0)."""
    return (zp != 0) & ((z > 0) if gated else torch.ones_like(z, dtype=torch.bool))


def rewritten(z, zp, gated, epsilon=0.0):
    zp = stabilised(zp, epsilon)
    ratio = torch.where(ratio_used(z, zp, gated),
                        z / torch.where(zp == 0, torch.ones_like(zp), zp), torch.zeros_like(z))
    return zp * ratio.detach()


def outputs(net, x, a):
    h = torch.relu(x @ net["U"]) if net["U"] is not None else x
    for w in net["W"]:
        h = torch.relu(a.T @ (h @ w))
    o = h @ net["V"]
    if net["final_relu"]:
        o = torch.relu(o)
    o = o.mean(0)
    return o + net["bias"] if net["bias"] is not None else o


def walk_relevance(net, x, a, walk, target, gammas, epsilon=0.0):
    h0 = (torch.relu(x @ net["U"]) if net["U"] is not None else x).detach().requires_grad_(True)
    h = h0
    for l, w in enumerate(net["W"]):
        z = a.T @ (h @ w)
        zp = a.T @ (h @ (w + gammas[l] * w.clamp(min=0)))
        nxt = rewritten(z, zp, True, epsilon)
        mask = torch.zeros_like(nxt)
        mask[walk[l + 1]] = 1
        h = nxt * mask + nxt.detach() * (1 - mask)
    v = net["V"]
    y = rewritten(h @ v, h @ (v + gammas[-1] * v.clamp(min=0)), net["final_relu"], epsilon).mean(0)[target]
    y.backward()
    return float((h0 * h0.grad)[walk[0]].sum())


def amplification(net, x, a, gammas, epsilon=0.0):
    """max |Z/Zp| over the entries where the ratio is used, per layer and then the output
    projection (with the case's γ and ε); 0 for a layer where it is used nowhere."""
    def largest(z, zp, gated):
        zp = stabilised(zp, epsilon)
        used = ratio_used(z, zp, gated)
        return float((z[used] / zp[used]).abs().max()) if used.any() else 0.0
    result = []
    with torch.no_grad():
        h = torch.relu(x @ net["U"]) if net["U"] is not None else x
        for l, w in enumerate(net["W"]):
            z = a.T @ (h @ w)
            result.append(largest(z, a.T @ (h @ (w + gammas[l] * w.clamp(min=0))), True))
            h = torch.relu(z)
        v = net["V"]
        result.append(largest(h @ v, h @ (v + gammas[-1] * v.clamp(min=0)), net["final_relu"]))
    return result


def all_walks(a, layers):
    n = a.shape[0]
    neighbours = [[k for k in range(n) if a[k, j] != 0] for j in range(n)]
    walks = [[j] for j in range(n)]
    for _ in range(layers):
        walks = [[k] + w for w in walks for k in neighbours[w[0]]]
    return walks


FLOAT32_ORDERS = 8


def permuted(model, order):
    """The same network with its hidden units in `order`: every product sums over them in
    another order, and the function (outputs and walk relevances) is unchanged."""
    t = model["tensors"]

    def get(name):
        return torch.tensor(t[name]["data"], dtype=torch.float64).view(t[name]["shape"])

    def put(tensors, name, value):
        tensors[name] = {"shape": list(value.shape), "data": value.flatten().tolist()}

    tensors = dict(t)
    if model["config"]["model_type"] == "graphnet":
        put(tensors, "U", get("U")[:, order])
        for i in range(model["config"]["num_layers"]):
            put(tensors, f"W{i + 1}", get(f"W{i + 1}")[order][:, order])
        put(tensors, "V", get("V")[order])
    else:
        for i in range(model["config"]["num_layers"]):
            theta = get(f"layers.{i}.theta")
            put(tensors, f"layers.{i}.theta", (theta if i == 0 else theta[order])[:, order])
        put(tensors, "classifier.weight", get("classifier.weight")[:, order])
    return {"config": model["config"], "tensors": tensors}


def renumbered(graph, nodes):
    """The same graph with node i called nodes[i] (edges, features and element labels follow)."""
    n = graph["num_nodes"]
    order = sorted(range(n), key=lambda i: nodes[i])
    result = dict(graph)
    result["edges"] = [[nodes[u], nodes[v]] for u, v in graph["edges"]]
    for key in ("features", "node_labels"):
        if graph.get(key) is not None:
            result[key] = [graph[key][i] for i in order]
    return result


def hidden_width(model):
    t = model["tensors"]
    return t["U"]["shape"][1] if model["config"]["model_type"] == "graphnet" else t["layers.0.theta"]["shape"][1]


def oracle(model, graph, gammas, target, epsilon, dtype):
    """(logits, walks with their relevance, the float64 amplification or None) in `dtype`;
    target None = the argmax (only for the float64 run: float32 gets the float64 target)."""
    net = network(model, dtype)
    layers = len(net["W"])
    expanded = gammas * (layers + 1) if len(gammas) == 1 else gammas
    a = adjacency(graph["num_nodes"], graph["edges"], net["config"].get("normalize", "sym"), dtype)
    x = features(net, graph, dtype)
    with torch.no_grad():
        out = outputs(net, x, a)
    if target is None:
        target = int(out.argmax())
    rows = [w + [walk_relevance(net, x, a, w, target, expanded, epsilon)] for w in all_walks(a, layers)]
    amplified = amplification(net, x, a, expanded, epsilon) if dtype == torch.float64 else None
    return out, target, rows, amplified


def case(name, model, graph, gammas, target=None, epsilon=0.0):
    started = time.perf_counter()
    out, target, rows, amplified = oracle(model, graph, gammas, target, epsilon, torch.float64)
    seconds = time.perf_counter() - started
    assert abs(float(out[target])) > 1e-3, f"{name}: the explained output is zero; pick another seed"
    deviation = {"logits": 0.0, "walks": 0.0}
    generator = torch.Generator().manual_seed(0)
    width, n = hidden_width(model), graph["num_nodes"]
    expected = {tuple(r[:-1]): r[-1] for r in rows}
    node_features = model["config"].get("node_features", "given" if model["config"]["model_type"] == "gcn" else "constant")
    for k in range(FLOAT32_ORDERS):
        hidden = torch.arange(width) if k == 0 else torch.randperm(width, generator=generator)
        # Nodes renumbered too (aggregations sum in another order), unless a node's
        # features are its own number.
        nodes = list(range(n)) if k == 0 or node_features == "identity" else torch.randperm(n, generator=generator).tolist()
        out32, _, rows32, _ = oracle(permuted(model, hidden), renumbered(graph, nodes), gammas, target, epsilon,
                                     torch.float32)
        back = {new: old for old, new in enumerate(nodes)}
        found = {tuple(back[j] for j in r[:-1]): r[-1] for r in rows32}
        assert found.keys() == expected.keys(), name
        deviation["logits"] = max(deviation["logits"], float((out32.double() - out).abs().max()))
        deviation["walks"] = max(deviation["walks"], max(abs(found[w] - expected[w]) for w in expected))
    scale = max(abs(r[-1]) for r in rows)
    print(f"{name}: {len(rows)} walks, sum {sum(r[-1] for r in rows):.6f}, "
          f"output {float(out[target]):.6f}, masked oracle {seconds:.2f} s; amplification "
          + ", ".join(f"{v:.3g}" for v in amplified)
          + f"; float32 deviation {deviation['walks']:.3g} = {deviation['walks'] / scale:.3g} of max |R|")
    return {"name": name, "gamma": gammas, **({"epsilon": epsilon} if epsilon else {}), "target": target,
            "logits": out.tolist(), "walks": rows, "amplification": amplified, "float32_deviation": deviation}


def random_model(kind, layers, seed, hidden=5):
    g = torch.Generator().manual_seed(seed)
    rnd = lambda *shape, std=1.0: {"shape": list(shape),
                                   "data": (torch.randn(*shape, generator=g) * std).flatten().tolist()}
    if kind == "graphnet":
        tensors = {"U": rnd(3, hidden), "V": rnd(hidden, 2)}
        for i in range(layers):
            tensors[f"W{i + 1}"] = rnd(hidden, hidden, std=0.9)
        config = {"model_type": "graphnet", "in_dim": 3, "hidden": hidden, "num_classes": 2,
                  "num_layers": layers, "node_features": "given", "normalize": "sym", "final_relu": False}
    else:
        tensors = {f"layers.{i}.theta": rnd(3 if i == 0 else hidden, hidden, std=0.8) for i in range(layers)}
        tensors["classifier.weight"] = rnd(3, hidden)
        tensors["classifier.bias"] = rnd(3)
        config = {"model_type": "gcn", "in_dim": 3, "hidden": hidden, "num_classes": 3, "num_layers": layers}
    return {"config": config, "tensors": tensors}


def random_graph(n, seed):
    g = torch.Generator().manual_seed(seed)
    edges = [[i, int(torch.randint(0, i, (1,), generator=g))] for i in range(1, n)] + [[0, n - 1]]
    return {"num_nodes": n, "edges": edges, "features": torch.rand(n, 3, generator=g).tolist()}


def sdf_graphs(path, count):
    records = [r for r in path.read_text().split("$$$$\n") if r.strip()][:count]
    graphs = []
    for record in records:
        lines = record.split("\n")
        atoms, bonds = int(lines[3][0:3]), int(lines[3][3:6])
        graphs.append({"num_nodes": atoms,
                       "node_labels": [lines[4 + i].split()[3] for i in range(atoms)],
                       "edges": [[int(lines[4 + atoms + j][0:3]) - 1, int(lines[4 + atoms + j][3:6]) - 1]
                                 for j in range(bonds)]})
    return graphs


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    cases = []
    for layers, gammas in itertools.product((1, 2, 3), ([0.0], [0.3])):
        model = random_model("graphnet", layers, seed={1: 1, 2: 2, 3: 2}[layers])
        graph = random_graph(6, seed=10 + layers)
        cases.append({"model": model, "graph": graph,
                      **case(f"random graphnet L={layers} γ={gammas}", model, graph, gammas, target=1)})
    model = random_model("gcn", 2, seed=7)
    graph = random_graph(5, seed=8)
    cases.append({"model": model, "graph": graph, **case("random gcn L=2", model, graph, [0.0, 0.1, 0.2])})
    graphnet = json.loads((MODELS / "graphnet-ba" / "model.json").read_text())
    for line in (DATA / "ba_graphs.jsonl").read_text().splitlines()[:2]:
        graph = json.loads(line)
        cases.append({"model_file": "graphnet-ba", "graph": graph,
                      **case(f"graphnet-ba {graph['name']}", graphnet, graph, [0.0])})
    gcn = json.loads((MODELS / "gcn-solubility" / "model.json").read_text())
    for index, graph in enumerate(sdf_graphs(DATA / "solubility_test.sdf", 2)):
        cases.append({"model_file": "gcn-solubility", "sdf_index": index,
                      **case(f"gcn-solubility molecule {index}", gcn, graph, [0.1])})
    # Ill-conditioned on purpose: the model and graph of "random graphnet L=1 γ=[0.3]" with γ = 0.302,
    # where an output-layer Zp of the target class nearly vanishes (|Z/Zp| ≈ 5·10³); then the same
    # with the LRP-ε stabiliser.
    model, graph = random_model("graphnet", 1, seed=1), random_graph(6, seed=11)
    for epsilon in (0.0, 0.01, 0.1):
        name = "ill-conditioned graphnet L=1 γ=[0.302]" + (f" ε={epsilon}" if epsilon else "")
        cases.append({"model": model, "graph": graph,
                      **case(name, model, graph, [0.302], target=1, epsilon=epsilon)})
    with open(OUT / "graph-walks.json", "w") as handle:
        json.dump({"cases": cases}, handle)
        handle.write("\n")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
