"""themescope: the themes in a pile of articles, and the paragraph that says a given thing, from
a local sentence-embedding model on the CPU. The same core as the ``themescope`` command."""

from __future__ import annotations

import json as _json
import os as _os
import sys as _sys
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

# The embedder keeps every core busy with its own batches; candle's pool for element-wise ops
# would spin on the same cores (read when the native module first runs a model).
_os.environ.setdefault("CANDLE_NUM_THREADS", "1")

import numpy as _np

from . import _themescope as _native

__version__: str = _native.__version__
__all__ = ["Index", "Themescope", "__version__"]


def _texts(texts: Sequence[str], what: str = "texts") -> List[str]:
    if isinstance(texts, (str, bytes)):
        raise ValueError(f"{what} must be a list of strings, not one string")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"{what}[{i}] is {type(text).__name__}, not a string")
    return texts


class Themescope:
    """A loaded sentence-embedding model, its embedding cache, and what it does: vectors,
    nearest texts and theme reports.

    ``model``: a known model's name or a sentence-transformers directory; None takes
    ``THEMESCOPE_MODEL``, else the default (sentence-transformers/all-MiniLM-L6-v2, fetched
    into the store on first use). ``precision``: "f32" (as the checkpoint stores it) or "int8"
    (faster). ``threads``: cores to use (default: all). ``cache``: keep vectors in the
    embedding cache so that a text is embedded once.

    Calls release the GIL, so two Python threads embed on two cores; Ctrl-C stops a long call
    with KeyboardInterrupt.
    """

    def __init__(
        self,
        model: Optional[str] = None,
        precision: Optional[str] = None,
        threads: Optional[int] = None,
        cache: bool = True,
    ) -> None:
        if threads is not None and (not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a whole number of at least 1, not {threads!r}")
        self._scope = _native.Themescope(model, precision or "f32", threads, cache)

    @property
    def model_path(self) -> str:
        """The model's directory."""
        return self._scope.model_path

    @property
    def dim(self) -> int:
        """Dimensions of a vector."""
        return self._scope.dim

    def embed(self, texts: Sequence[str]) -> _np.ndarray:
        """Unit vectors of ``texts``, float32, one row per text (long texts windowed as the
        command line does); the same bits as ``themescope embed`` gives."""
        raw, rows, dim = self._scope.embed(_texts(texts))
        return _np.frombuffer(raw, dtype=_np.float32).reshape(rows, dim)

    def nearest(self, query: str, texts: Sequence[str], k: int = 5) -> List[Tuple[int, float]]:
        """The ``k`` texts most similar to ``query``, best first, as (position in ``texts``,
        cosine) pairs."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query is empty: say what to look for")
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
        return self._scope.nearest(query, _texts(texts), k)

    def themes(
        self,
        texts: Sequence[str],
        ids: Optional[Sequence[str]] = None,
        k: Union[int, str] = "auto",
        depth: int = 2,
        seed: int = 42,
        doc: str = "texts",
        names: Optional[Sequence[str]] = None,
    ) -> Dict[str, Any]:
        """The theme report of ``texts``: the structure ``themescope themes --format json``
        writes (summary, themes with labels, keywords, stability, sub-themes and members,
        documents, outliers). ``k``: "auto" (the finest split that holds up under re-fits) or
        a number of themes. Paragraph ids are ``ids`` or ``doc:line``, as for a JSONL file
        named ``doc``. ``names``: guided themes, as ``themes --theme NAME`` gives them (first,
        marked ``given``; a name that gathers nothing is listed under ``unmatched``)."""
        count = _theme_args(k, depth, seed)
        ids = None if ids is None else _texts(ids, "ids")
        names = [] if names is None else _texts(names, "names")
        report = self._scope.themes(_texts(texts), ids, count, depth, seed, str(doc), names)
        return _json.loads(report)


class Index:
    """An on-disk index (the one ``themescope index`` builds): paragraphs and their vectors,
    searched through an ANN graph once large, themed on a seeded sample with every row placed.

    ``path``: the index's directory (made by the first ``add``). ``scope``: the
    :class:`Themescope` whose model embeds what is added and searched (an index holds one
    model's vectors); None loads one from ``model``, ``precision`` and ``threads``.
    """

    def __init__(
        self,
        path: Union[str, "_os.PathLike[str]"],
        scope: Optional[Themescope] = None,
        *,
        model: Optional[str] = None,
        precision: Optional[str] = None,
        threads: Optional[int] = None,
    ) -> None:
        if scope is None:
            scope = Themescope(model=model, precision=precision, threads=threads)
        elif not isinstance(scope, Themescope):
            raise ValueError(f"scope must be a Themescope, not {type(scope).__name__}")
        self.scope = scope
        self._index = _native.Index(_os.fspath(path), scope._scope)

    @classmethod
    def build(
        cls,
        path: Union[str, "_os.PathLike[str]"],
        texts: Sequence[str],
        ids: Optional[Sequence[str]] = None,
        doc: str = "texts",
        scope: Optional[Themescope] = None,
        **options: Any,
    ) -> "Index":
        """An index in ``path`` (new, or extended) holding ``texts``."""
        index = cls(path, scope, **options)
        index.add(texts, ids=ids, doc=doc)
        return index

    @property
    def path(self) -> str:
        """The index's directory."""
        return self._index.path

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"themescope.Index({self.path!r})"

    def add(
        self, texts: Sequence[str], ids: Optional[Sequence[str]] = None, doc: str = "texts"
    ) -> Dict[str, int]:
        """Embeds and stores ``texts`` (ids ``ids`` or ``doc:line``); a text already stored
        under its id is skipped. Returns counts: read, added, stored (skipped), changed (an
        id stored with another text: both kept)."""
        ids = None if ids is None else _texts(ids, "ids")
        return self._index.add(_texts(texts), ids, str(doc))

    def add_files(self, *inputs: Union[str, "_os.PathLike[str]"]) -> Dict[str, int]:
        """Stores the paragraphs of files and folders (``.txt``, ``.md``, ``.jsonl``) as
        ``themescope index add`` does, boilerplate left out."""
        return self._index.add_files([_os.fspath(p) for p in inputs])

    def nearest(self, query: str, k: int = 5) -> List[Dict[str, Any]]:
        """The ``k`` stored paragraphs most similar to ``query``, best first: dicts with row,
        id, doc, line, page (a PDF paragraph's page, else None), text and score (cosine)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("the query is empty: say what to look for")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be a whole number of at least 1, not {k!r}")
        keys = ("row", "id", "doc", "line", "page", "text", "score")
        return [dict(zip(keys, hit)) for hit in self._index.nearest(query, k)]

    def themes(self, k: Union[int, str] = "auto", depth: int = 2, seed: int = 42) -> Dict[str, Any]:
        """Themes of the whole index: the structure ``themescope themes --index PATH --format
        json`` writes (theme sizes count every row). Saved in the index, so rows added later
        are placed among them."""
        count = _theme_args(k, depth, seed)
        return _json.loads(self._index.themes(count, depth, seed))


def _theme_args(k: Union[int, str], depth: int, seed: int) -> Optional[int]:
    """The number of themes (None: chosen by stability), the other arguments checked."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a whole number of at least 0, not {seed!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be 1 or 2, not {depth!r}")
    if k == "auto":
        return None
    if isinstance(k, int) and not isinstance(k, bool) and k >= 1:
        return k
    raise ValueError(f'k must be "auto" or a whole number of at least 1, not {k!r}')


def _main() -> None:
    """The ``themescope`` command, as the wheel installs it."""
    raise SystemExit(_native.run_cli(["themescope", *_sys.argv[1:]]))
