"""The two catalogs the evaluation runs on, embedded with the local model into embedded stores.

Cosmic Works is read from ``../shared/data`` (never copied into the repo); the sample shop is
``devhost/sample_products.json``. Products are embedded the way the pipeline embeds them (``EMBED_FIELDS``).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalog.categories import CategoryIndex
from catalog.model import EMBEDDING_FIELD, EMBEDDING_INFO_FIELD, EmbeddingRecipe, embedding_text, utc_timestamp
from catalog.ranking import RankingWeights
from catalog.retrieval import ProductFinder
from catalog.search import ProductSearch
from composition.settings import Settings
from embedding.base import Embedder
from store.base import ContainerSpec, DocumentContainer, VectorSpec
from store.sqlite import SqliteDocumentStore

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "evaluation" / "data"
CATALOG_FILES = {
    "cosmic_works": REPO.parent / "shared" / "data" / "cosmic-works-products.json",
    "sample_shop": REPO / "devhost" / "sample_products.json",
}
QUESTION_FILES = {
    "cosmic_works": DATA / "retrieval_cosmic_works.json",
    "sample_shop": DATA / "retrieval_sample_shop.json",
}


@dataclass
class EmbeddedCatalog:
    name: str
    products: list[dict[str, Any]]
    container: DocumentContainer
    embedder: Embedder
    store: SqliteDocumentStore

    def finder(self, mode: str = "vector", weights: RankingWeights | None = None) -> ProductFinder:
        search = ProductSearch(self.container, self.embedder, mode)
        return ProductFinder(search, CategoryIndex(self.container), weights)


def available() -> dict[str, Path]:
    """The catalogs whose product file is present."""
    return {name: path for name, path in CATALOG_FILES.items() if path.is_file()}


async def embed_catalog(
    name: str, folder: Path, embedder: Embedder, fields: tuple[str, ...] = Settings.EMBED_FIELDS
) -> EmbeddedCatalog:
    """``name``'s products embedded over ``fields`` into a fresh embedded store under ``folder``."""
    products = json.loads(CATALOG_FILES[name].read_text(encoding="utf-8"))
    store = SqliteDocumentStore(folder / f"{name}.sqlite3")
    spec = ContainerSpec(
        "products", "/id", VectorSpec(f"/{EMBEDDING_FIELD}", embedder.dimensions), tuple(f"/{f}" for f in fields)
    )
    container = await store.container(spec)
    started = time.perf_counter()
    texts = [embedding_text(product, fields) for product in products]
    vectors = await embedder.embed(texts)
    # Stamped as the pipeline stamps them: search ranks only vectors of its own model.
    recipe = EmbeddingRecipe(tuple(fields), embedder.model_id, embedder.dimensions)
    stamps = [recipe.embedded_stamp(recipe.content_hash(text), truncated=False, at=utc_timestamp()) for text in texts]
    await container.upsert_many(
        [
            {**p, EMBEDDING_FIELD: v, EMBEDDING_INFO_FIELD: stamp}
            for p, v, stamp in zip(products, vectors, stamps, strict=True)
        ]
    )
    print(f"{name}: {len(products)} products embedded in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return EmbeddedCatalog(name, products, container, embedder, store)
