"""PostgreSQL backend: the catalog at scale, shared by every worker and the API.

Full text is a `tsvector` column built in Python from archiver.catalog.text tokens and handed
over as a literal (its input function does not run the parser, whose idea of a letter depends on
the server's locale and drops Devanagari or Arabic under C). Words of the post are labelled A,
the author's name B, so an author filter is a tsquery on label B. A GIN index serves both.

GIN keeps no positions, so a phrase query reads every post holding all its words to check their
order: for two common words (or two CJK characters) that is thousands of rows. The vector therefore
also holds each pair of neighbouring tokens as one lexeme (`~a b`), and a phrase asks for its
pairs too: the index then finds just about the posts with the phrase, and the order check runs on
those alone. The post's handle is a lexeme as well (`@handle`), so words by one account are one
index lookup. No token holds `~`, `@` or a space, so neither kind can match a word.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar

from archiver.catalog.base import ThreadConnections
from archiver.catalog.schema import earlier_words, posts_table
from archiver.catalog.syntax import All, AnyOf, Node, Not, Term
from archiver.catalog.text import TOKEN_VERSION, Clause, post_doc_tokens, tokenize
from archiver.errors import MissingExtra
from archiver.redact import redact_url

if TYPE_CHECKING:
    import psycopg

MAX_POSITION = 16383  # tsvector positions above this are clamped by PostgreSQL
AUTHOR_GAP = 64  # author positions start after the text's, so no phrase spans the two
# 2: pair and handle lexemes; "+t" the tokens' cut (text.TOKEN_VERSION). Vectors of another format
# are rebuilt when the catalog opens (`upgrade`).
DOC_FORMAT = f"2+t{TOKEN_VERSION}"


def _lexeme(token: str) -> str:
    return "'" + token.replace("\\", "\\\\").replace("'", "''") + "'"


def _pair(a: str, b: str) -> str:
    return f"~{a} {b}"


def tsvector_literal(text_tokens: Sequence[str], author_tokens: Sequence[str], handle: str | None = None) -> str:
    """`'word':1A,5A 'name':70B '~word next' '@handle'` for the given tokens."""
    positions: dict[str, list[str]] = defaultdict(list)
    for i, tok in enumerate(text_tokens, 1):
        positions[tok].append(f"{min(i, MAX_POSITION)}A")
    start = min(len(text_tokens) + AUTHOR_GAP, MAX_POSITION - len(author_tokens))
    for i, tok in enumerate(author_tokens, start):
        positions[tok].append(f"{min(i, MAX_POSITION)}B")
    # Pairs past the last position could never be a phrase (positions there are all the same).
    pairs = {_pair(a, b) for toks in (text_tokens[:MAX_POSITION], author_tokens[:MAX_POSITION])
             for a, b in pairwise(toks)}
    entries = [f"{_lexeme(tok)}:{','.join(pos[:256])}" for tok, pos in positions.items()]
    entries += [_lexeme(p) for p in sorted(pairs)]
    if handle:
        entries.append(_lexeme("@" + handle))
    return " ".join(entries)


def _term(token: str, prefix: bool, label: str) -> str:
    flags = ("*" if prefix else "") + label
    return _lexeme(token) + (f":{flags}" if flags else "")


def _clause(c: Clause, label: str = "") -> str:
    """A phrase as a tsquery: its tokens in order (`<->`) and its pair lexemes, which the GIN index
    finds. A two-word phrase in the words is its pair lexeme alone: exact, and no row is read again
    to check positions. The author's pairs may come from the text, so its phrases keep positions."""
    terms = [_term(t, c.prefix and i == len(c.tokens) - 1, label) for i, t in enumerate(c.tokens)]
    pairs = [_term(_pair(a, b), c.prefix and i == len(c.tokens) - 2, "")
             for i, (a, b) in enumerate(pairwise(c.tokens))]
    if len(terms) == 1:
        return terms[0]
    if len(terms) == 2 and not label:
        return pairs[0]
    return "(" + " & ".join([f"({' <-> '.join(terms)})", *pairs]) + ")"


def _tsq(node: Node) -> str:
    """`node` as a tsquery, every part in parentheses; tokens only ever as quoted lexemes."""
    if isinstance(node, Term):
        return _clause(node.clause)
    if isinstance(node, AnyOf):
        return "(" + " | ".join(_tsq(p) for p in node.parts) + ")"
    if isinstance(node, All):
        return "(" + " & ".join(f"!{_tsq(p.node)}" if isinstance(p, Not) else _tsq(p) for p in node.parts) + ")"
    raise TypeError(f"an exclusion stands only inside an All: {node!r}")


def tsquery_literal(words: All | None, author: Sequence[Clause], handle: str | None = None) -> str:
    """A tsquery ANDing the parts of `words` (exclusions as `!`), every `author` clause (on label
    B, with its pair lexemes) and `'@handle'`."""
    parts = [f"!{_tsq(p.node)}" if isinstance(p, Not) else _tsq(p) for p in (words.parts if words else ())]
    parts += [_clause(c, "B") for c in author]
    parts += [_term(_pair(a, b), c.prefix and i == len(c.tokens) - 2, "")
              for c in author for i, (a, b) in enumerate(pairwise(c.tokens))]
    if handle:
        parts.append(_lexeme("@" + handle))
    return " & ".join(parts)


class PostgresBackend(ThreadConnections):
    """The catalog in PostgreSQL, a connection per thread (autocommit); full text by tsvector."""

    placeholder = "%s"
    search_schema = (
        posts_table("id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "doc TSVECTOR"),
        "CREATE INDEX IF NOT EXISTS posts_doc ON posts USING GIN (doc)",
    )
    doc_columns: ClassVar[dict[str, str]] = {"doc": "?::tsvector"}

    def __init__(self, dsn: str) -> None:
        # psycopg only where PostgreSQL is used: commands on a SQLite catalog start without it, and a
        # base install (no `postgres` extra) says which extra to install.
        try:
            import psycopg
        except ImportError as exc:
            raise MissingExtra("the PostgreSQL catalog", "postgres", exc) from None

        super().__init__()
        self.dsn = dsn
        self.integrity_error = psycopg.IntegrityError

    def _open(self) -> psycopg.Connection[dict[str, Any]]:
        import psycopg
        from psycopg.rows import dict_row

        conn = psycopg.connect(self.dsn, autocommit=True, row_factory=dict_row, connect_timeout=10)
        nul_free_text(conn)
        # Never prepare: a prepared search can fall back to a generic plan that cannot know how
        # common a word is, and picks one plan for a word in half the posts and one in ten.
        conn.prepare_threshold = None
        # A bitmap of a common word's matches (100,000 posts of a million) outgrows the default 4 MB
        # and turns lossy: ANDed with a window of ids it then reads every post of each page (newest_ids).
        conn.execute("SET work_mem = '32MB'")
        return conn

    def _usable(self, conn: Any) -> bool:
        return not conn.closed  # the server may have closed it

    def describe(self) -> str:
        return redact_url(self.dsn)  # the password, in the userinfo or the query, masked

    # --- search ---------------------------------------------------------------------------------
    def columns(self, table: str) -> set[str]:
        rows = self.connect().execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema()", (table,)).fetchall()
        return {r["column_name"] for r in rows}

    @staticmethod
    def doc_values(text_tokens: Sequence[str], author_tokens: Sequence[str], handle: str | None) -> list[Any]:
        return [tsvector_literal(text_tokens, author_tokens, handle)]

    @staticmethod
    def match_sql(words: All | None, author: Sequence[Clause],
                  handle: str | None) -> tuple[str, str, list[Any], str]:
        """(FROM, WHERE fragment, parameters, ORDER column)."""
        return "posts p", "p.doc @@ ?::tsquery", [tsquery_literal(words, author, handle)], "p.id"

    @staticmethod
    def rank_sql(words: All | None, author: Sequence[Clause], handle: str | None) -> tuple[str, list[Any], bool]:
        """ts_rank of the post's vector for the same tsquery (higher is better)."""
        return "ts_rank(p.doc, ?::tsquery)", [tsquery_literal(words, author, handle)], True

    @staticmethod
    def date_walk(source: str, cond: str, column: str) -> tuple[str, str]:
        """As it is: the planner walks the date's index backwards itself when that is cheaper."""
        return source, cond

    @staticmethod
    def exclude_sql(nodes: Sequence[Node]) -> tuple[str, list[Any]]:
        """Posts whose vector matches none of `nodes`."""
        return "NOT (p.doc @@ ?::tsquery)", [_tsq(AnyOf(tuple(nodes)) if len(nodes) > 1 else nodes[0])]

    @contextmanager
    def serialized(self, name: str) -> Iterator[None]:
        """As Backend.serialized: a session advisory lock on the name's hash, released at the end."""
        conn = self.connect()
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))

    def upgrade(self) -> None:
        """Rebuild the vectors of a catalog written by an older release or under another cut of the
        tokens (DOC_FORMAT), from the posts' text, card words, earlier captures' words (text.post_doc_tokens),
        author and handle.

        In one transaction, so searches see the old vectors or the new ones: new vectors are copied
        into a scratch table, the GIN index is dropped, every row updated at once and the index
        built again (row-by-row updates of an indexed vector run about 50 times slower). An
        advisory lock makes two processes opening the catalog do it once.
        """
        conn = self.connect()
        conn.execute("CREATE TABLE IF NOT EXISTS catalog_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        done = "SELECT 1 FROM catalog_meta WHERE name = 'doc_format' AND value = %s"
        if conn.execute(done, (DOC_FORMAT,)).fetchone():
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('archiver catalog upgrade'))")
            if conn.execute(done, (DOC_FORMAT,)).fetchone():
                return
            if conn.execute("SELECT 1 FROM posts LIMIT 1").fetchone():
                conn.execute("CREATE TEMP TABLE doc_upgrade (id BIGINT, doc TSVECTOR) ON COMMIT DROP")
                # One COPY per batch: a connection cannot fetch from the cursor while a COPY runs.
                with conn.cursor(name="doc_upgrade_read") as read, conn.cursor() as write:
                    read.execute("SELECT p.id, p.provider, p.post_id, p.capture_id, p.text, p.author, p.handle_norm, "
                                 "c.card_text FROM posts p LEFT JOIN captures c ON c.capture_id = p.capture_id")
                    while rows := read.fetchmany(5000):
                        earlier = earlier_words(write, [(r["provider"], r["post_id"], r["capture_id"]) for r in rows],
                                                self.placeholder)
                        with write.copy("COPY doc_upgrade (id, doc) FROM STDIN") as copy:
                            for r in rows:
                                copy.write_row((r["id"], tsvector_literal(
                                    post_doc_tokens(r["text"], r["card_text"],
                                                    earlier.get((r["provider"], r["post_id"]), ())),
                                    tokenize(r["author"]), r["handle_norm"])))
                conn.execute("DROP INDEX IF EXISTS posts_doc")
                conn.execute("UPDATE posts p SET doc = d.doc FROM doc_upgrade d WHERE p.id = d.id")
                conn.execute(self.search_schema[1])
            conn.execute("INSERT INTO catalog_meta (name, value) VALUES ('doc_format', %s) "
                         "ON CONFLICT (name) DO UPDATE SET value = excluded.value", (DOC_FORMAT,))

    @staticmethod
    def hamming_sql(a: str, b: str) -> str:
        return f"bit_count(('x' || {a})::bit(64) # ('x' || {b})::bit(64))"

    def page_order(self, matches_sql: str, params: Sequence[Any], order: str, wanted: int) -> str:
        """ORDER BY for a page of a search with more matches than the count cap.

        Two plans: walk the ids newest first, testing each post, until `wanted` match (about
        wanted x posts / matches rows), or read every match from the index and sort them (one row
        per match). The planner prices the walk as if each test were free and favours it even for
        a few thousand matches, where it reads tens of thousands of rows; so the choice is made
        here from the planner's estimate of the matches, and `+ 0` keeps it from walking the index.
        `matches_sql` selects the matches, written with this backend's placeholders.
        """
        conn = self.connect()
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) {matches_sql}", tuple(params)).fetchone()
        matches = max(1.0, float(plan["QUERY PLAN"][0]["Plan"]["Plan Rows"]))
        posts = self._post_count(conn)
        # A walked row costs about 0.6 of a sorted one (measured: benchmarks/bench_search.py).
        walked, sorted_rows = 0.6 * wanted * posts / matches, matches
        return f"{order} DESC" if walked <= sorted_rows else f"{order} + 0 DESC"

    def newest_ids(self, matches_sql: str, params: Sequence[Any], order: str, n: int) -> list[int]:
        """The `n` newest matches' ids, newest first, by the cheapest of three plans, chosen here from
        the planner's estimate of the matches (`m`) among the `posts` rows, costed in heap rows read
        (measured at a million posts: benchmarks/bench_search.py):

        - walk the ids newest first, testing each post, until `n` match: n x posts / m rows (the
          plan for a word in a good part of the posts);
        - the GIN index's matches ANDed with a window of the newest ids (the primary key's range, as
          a bitmap) that should hold 2n of them: the index's posting list (0.03 of a row a match),
          the window's ids (0.015 of a row each) and its 2n matches; a window that turns out to hold
          fewer than `n` is widened eightfold until it holds them or is the whole table;
        - every match read and sorted: 0.03 m + m.
        The window comes from the id column's histogram (pg_stats), so the table must have been
        analyzed; without statistics the matches are read and sorted.
        """
        conn = self.connect()
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) {matches_sql}", tuple(params)).fetchone()
        matches = max(1.0, float(plan["QUERY PLAN"][0]["Plan"]["Plan Rows"]))
        posts = self._post_count(conn)
        share = min(1.0, 2 * n / matches)
        walked = n * posts / matches
        windowed = 0.03 * matches + 0.015 * share * posts + 2 * n
        every = 1.03 * matches
        if walked <= min(windowed, every):
            sql = f"{matches_sql} ORDER BY {order} DESC LIMIT %s"
            return [r["id"] for r in conn.execute(sql, (*params, n))]
        if every <= windowed:
            share = 1.0
        while True:
            low = self._newest_id_bound(conn, share) if share < 1 else None
            cond = "" if low is None else f" AND {order} >= %s"
            sql = f"{matches_sql}{cond} ORDER BY {order} + 0 DESC LIMIT %s"
            ids = [r["id"] for r in conn.execute(sql, (*params, *([low] if low is not None else []), n))]
            if len(ids) >= n or low is None:
                return ids
            share *= 8

    def _newest_id_bound(self, conn: Any, share: float) -> int | None:
        """An id with about `share` (0..1) of the posts at or above it, from the id histogram
        (linear within a bucket); None when there are no statistics or the share reaches the oldest."""
        row = conn.execute("SELECT histogram_bounds::text::bigint[] AS b FROM pg_stats WHERE tablename = 'posts' "
                           "AND attname = 'id' AND schemaname = current_schema()").fetchone()
        bounds = row["b"] if row else None
        if not bounds or len(bounds) < 2:
            return None
        pos = (1 - share) * (len(bounds) - 1)  # in buckets from the oldest bound
        i = int(pos)
        if i <= 0:
            return None
        return int(bounds[i] + (bounds[min(i + 1, len(bounds) - 1)] - bounds[i]) * (pos - i))

    def rank_pool(self, source: str, cond: str, params: Sequence[Any], order: str,
                  rank: tuple[str, list[Any], bool], ids: Sequence[int]) -> list[int]:
        """ts_rank reads only the post's vector: `ids` are ranked by id, not matched again."""
        value, rank_params, higher = rank
        sql = (f"SELECT p.id AS id FROM posts p WHERE p.id = ANY(%s) "  # noqa: S608
               f"ORDER BY {value.replace('?', '%s')} {'DESC' if higher else 'ASC'}, p.id DESC")
        return [r["id"] for r in self.connect().execute(sql, (list(ids), *rank_params))]

    def _post_count(self, conn: Any) -> float:
        row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'posts'::regclass").fetchone()
        return max(1.0, float(row["reltuples"]))

    def bulk_insert(self, table: str, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        conn = self.connect()
        with conn.transaction(), conn.cursor() as cur, \
                cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def nul_free_text(conn: psycopg.Connection[Any]) -> None:
    """Make `conn` send every str parameter (and COPY value) with each NUL (U+0000) as U+FFFD.

    PostgreSQL's text types cannot hold NUL, which outside text may carry (a post's text, an image's
    URL, a search); psycopg would raise DataError and the capture or search would fail. The
    replacement character takes its place, as for a lone surrogate (archiver.foreign_json); writes and
    look-ups replace alike, so an exact match on such a value still finds its row. (SQLite keeps NUL.)
    The dumpers are psycopg's own pure-Python str dumpers, subclassed (its C ones cannot be).
    """
    from psycopg.types.string import StrBinaryDumper, StrDumperUnknown

    for dumper in (StrBinaryDumper, StrDumperUnknown):  # the last registered is the default (psycopg's order)
        conn.adapters.register_dumper(str, _nul_free(dumper))


@functools.cache
def _nul_free(dumper: type[Any]) -> type[Any]:
    """A subclass of psycopg's str dumper `dumper` that dumps each NUL as U+FFFD."""

    class NulFree(dumper):  # type: ignore[misc,valid-type]
        def dump(self, obj: str) -> Any:
            return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)

    NulFree.__name__ = NulFree.__qualname__ = f"NulFree{dumper.__name__}"
    return NulFree
