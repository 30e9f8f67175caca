"""The forum's local full-text search: an SQLite FTS5 index per reader, of exactly what that
reader can read (a post its key cannot open is never indexed, so nothing leaks through a
search). A cache of the chain: brought up to date before every search, rebuilt on demand."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS posts USING fts5(
    title, body, channel UNINDEXED, post UNINDEXED, author UNINDEXED, height UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def fts_query(text: str) -> str:
    """A user's words as an FTS5 query: every word must occur (each quoted, so punctuation
    and FTS5 operators in the text are searched for, not interpreted)."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in text.split())


class ForumIndex(closing["ForumIndex"]):
    """One reader's index file (created with mode 600: it holds decrypted text); closed on
    leaving a `with` block."""

    def __init__(self, path: Path, reader: str) -> None:
        super().__init__(self)
        self.path = Path(path)
        self.reader = reader.lower()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)
        self.db = sqlite3.connect(self.path)
        self.db.executescript(SCHEMA)
        if self._meta("reader") not in (None, self.reader):
            self.clear()  # another reader's index: never serve its text to this one
        self._set_meta("reader", self.reader)

    def close(self) -> None:
        self.db.commit()
        self.db.close()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def last_post(self) -> int:
        """The highest post id already looked at (indexed or not readable)."""
        return int(self._meta("last_post") or 0)

    def set_last_post(self, post_id: int) -> None:
        self._set_meta("last_post", str(post_id))
        self.db.commit()

    def clear(self) -> None:
        self.db.executescript("DELETE FROM posts; DELETE FROM meta;")  # committed

    def add(self, *, post_id: int, channel: str, author: str, title: str, body: str,
            height: int) -> None:
        self.db.execute(
            "INSERT INTO posts (title, body, channel, post, author, height) "
            "VALUES (?, ?, ?, ?, ?, ?)", (title, body, channel, post_id, author, height))

    def search(self, text: str, *, channel: str | None = None,
               limit: int = 20) -> list[dict[str, Any]]:
        """Posts holding every word of `text`, best match first."""
        query = fts_query(text)
        if not query:
            return []
        sql = ("SELECT post, channel, author, height, title, "
               "snippet(posts, 1, '[', ']', '…', 12) FROM posts WHERE posts MATCH ?1 "
               "AND (?2 IS NULL OR channel = ?2) ORDER BY rank LIMIT ?3")
        args = (query, channel, limit)
        return [{"post": int(post), "channel": ch, "author": author, "height": int(height),
                 "title": title, "snippet": snippet}
                for post, ch, author, height, title, snippet in self.db.execute(sql, args)]


def default_index_path(root: Path, account: str) -> Path:
    """Where the CLI keeps a reader's index: in the network folder, one file per reader."""
    return Path(root) / "forum-index" / f"{account.lower()}.sqlite"

