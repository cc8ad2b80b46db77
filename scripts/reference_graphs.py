"""Writes Tests/AttributionTests/Fixtures/graph-walks.json: GNN-LRP walk relevances
from the masked definition in PyTorch (one backward pass per walk, only node j_l
carrying gradient at layer l, each layer rewritten as Zp·(Z/Zp).detach() with
Zp from W + γ·max(W, 0)), for the sample GraphNet and GCN on sample graphs and for
small random models. Run through `make reference`.
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


def adjacency(n, edges, normalize):
    a = torch.eye(n, dtype=torch.float64)
    for u, v in edges:
        if u != v:
            a[u, v] = a[v, u] = 1
    if normalize == "sym":
        d = a.sum(1).rsqrt()
        a = d[:, None] * a * d[None, :]
    return a


def network(model):
    config, t = model["config"], model["tensors"]
    get = lambda name: torch.tensor(t[name]["data"], dtype=torch.float64).view(t[name]["shape"])
    if config["model_type"] == "graphnet":
        layers = [get(f"W{i + 1}") for i in range(config["num_layers"])]
        return {"U": get("U"), "W": layers, "V": get("V"), "bias": None,
                "final_relu": config.get("final_relu", True), "config": config}
    layers = [get(f"layers.{i}.theta") for i in range(config["num_layers"])]
    return {"U": None, "W": layers, "V": get("classifier.weight").T, "bias": get("classifier.bias"),
            "final_relu": False, "config": config}


def features(net, graph):
    config = net["config"]
    n = graph["num_nodes"]
    kind = config.get("node_features", "given" if config["model_type"] == "gcn" else "constant")
    if kind == "constant":
        return torch.ones(n, config["in_dim"], dtype=torch.float64)
    if kind == "identity":
        return torch.eye(n, dtype=torch.float64)
    if graph.get("features") is not None:
        return torch.tensor(graph["features"], dtype=torch.float64)
    elements = config["elements"]
    x = torch.zeros(n, len(elements), dtype=torch.float64)
    for i, symbol in enumerate(graph["node_labels"]):
        x[i, elements.index(symbol) if symbol in elements else elements.index("other")] = 1
    return x


def rewritten(z, zp, gated):
    ratio = torch.where((zp == 0) | ((z <= 0) if gated else torch.zeros_like(z, dtype=torch.bool)),
                        torch.zeros_like(z), z / torch.where(zp == 0, torch.ones_like(zp), zp))
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


def walk_relevance(net, x, a, walk, target, gammas):
    h0 = (torch.relu(x @ net["U"]) if net["U"] is not None else x).detach().requires_grad_(True)
    h = h0
    for l, w in enumerate(net["W"]):
        z = a.T @ (h @ w)
        zp = a.T @ (h @ (w + gammas[l] * w.clamp(min=0)))
        nxt = rewritten(z, zp, True)
        mask = torch.zeros_like(nxt)
        mask[walk[l + 1]] = 1
        h = nxt * mask + nxt.detach() * (1 - mask)
    v = net["V"]
    y = rewritten(h @ v, h @ (v + gammas[-1] * v.clamp(min=0)), net["final_relu"]).mean(0)[target]
    y.backward()
    return float((h0 * h0.grad)[walk[0]].sum())


def all_walks(a, layers):
    n = a.shape[0]
    neighbours = [[k for k in range(n) if a[k, j] != 0] for j in range(n)]
    walks = [[j] for j in range(n)]
    for _ in range(layers):
        walks = [[k] + w for w in walks for k in neighbours[w[0]]]
    return walks


def case(name, model, graph, gammas, target=None):
    net = network(model)
    layers = len(net["W"])
    expanded = gammas * (layers + 1) if len(gammas) == 1 else gammas
    a = adjacency(graph["num_nodes"], graph["edges"], net["config"].get("normalize", "sym"))
    x = features(net, graph)
    with torch.no_grad():
        out = outputs(net, x, a)
    if target is None:
        target = int(out.argmax())
    assert abs(float(out[target])) > 1e-3, f"{name}: the explained output is zero; pick another seed"
    walks = all_walks(a, layers)
    started = time.perf_counter()
    rows = [w + [walk_relevance(net, x, a, w, target, expanded)] for w in walks]
    seconds = time.perf_counter() - started
    print(f"{name}: {len(rows)} walks, sum {sum(r[-1] for r in rows):.6f}, "
          f"output {float(out[target]):.6f}, masked oracle {seconds:.2f} s")
    return {"name": name, "gamma": gammas, "target": target, "logits": out.tolist(), "walks": rows}


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
    with open(OUT / "graph-walks.json", "w") as handle:
        json.dump({"cases": cases}, handle)
        handle.write("\n")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
