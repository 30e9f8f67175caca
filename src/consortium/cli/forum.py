"""`consortium forum …`: plain reads and writes (channels, rules, pin, unpin) come from the
forum's declared surface; the commands that seal, open, upload or check hashes are written
here (reads with `--from` open what that member's key opens)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from consortium.apps.forum.surface import CHANNEL_HELP, FORUM
from consortium.cli import kit
from consortium.errors import ConfigError, known

app = kit.ServiceTyper(help="The consortium forum: channels, threads, announcements, minutes, "
                       "research documents, search.", no_args_is_help=True)

ChannelArg = typer.Argument(..., help=CHANNEL_HELP)
BODY_WIDTH = 60


_client = kit.client_of("consortium.apps.forum.client", "ForumClient")
def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_WIDTH else text[:BODY_WIDTH - 1] + "…"


def _posts_table(title: str, posts: list[dict[str, Any]], show: Callable[[Any], Any]) -> None:
    kit.table(title, ["id", "kind", "thread", "author", "title", "body", "pinned", "replies",
                      "proposals"],
              [[p["id"], p["kind"], p["parent"], show(p["author"]), p["title"] or None,
                _short(p["body"]) if p["readable"] else f"(encrypted: {p.get('why', '')})",
                "yes" if p["pinned"] else None, p["replies"],
                ", ".join(str(x) for x in p["proposals"]) or None] for p in posts])


_channels_table = kit.rows(
    "Channels", "channel,private,key epoch,members,threads,posts,documents",
    lambda c, show: [c["name"], "yes" if c["private"] else "no",
                     c["epoch"] if c["private"] else None,
                     ", ".join(str(show(m)) for m in c["members"])
                     or (None if c["private"] else "everyone"),
                     c["threads"], c["posts"], c["documents"]])


def _rules_table(found: dict[str, int], _names: Callable[[Any], Any]) -> None:
    kit.table("Forum rules", ["rule", "value"], [[k, v] for k, v in found.items()])


kit.add_reads(app, FORUM, _client, tables={"channels": _channels_table, "rules": _rules_table})
kit.add_writes(app, FORUM, _client)  # pin, unpin and its local writes (register-key, …)


@app.command("post")
@kit.with_signing
def post(channel: str = ChannelArg, text: str = typer.Argument(..., help="The body."),
         title: str = typer.Option("", "--title", help="The thread's title."),
         reply_to: int | None = typer.Option(None, "--reply-to",
                                             help="Reply in this post's thread instead."),
         *, signing: kit.Signing) -> None:
    """Open a thread in a channel, or reply in one (encrypted in a task force's channel)."""
    client = _client(signing.rpc, signing.dir)
    account = signing.signer()
    if reply_to is not None:
        found = known(client.read.post(reply_to), f"no post {reply_to}")
        if found["channel"] != channel:
            raise ConfigError(f"post {reply_to} is in channel {found['channel']!r}")
        out = client.reply(account, reply_to, text)
    else:
        out = client.post(account, channel, text, title=title)
    kit.done(out, signing.json_out, "posted")


@app.command("read")
@kit.with_reading
def read(channel: str = ChannelArg,
         threads: bool = typer.Option(False, "--threads", help="Only thread openers."),
         pinned: bool = typer.Option(False, "--pinned", help="Only pinned announcements."),
         *, signing: kit.Signing) -> None:
    """A channel's posts, oldest first, opened with your key where it can."""
    client, account = _client(signing.rpc, signing.dir), signing.signer()
    posts = (client.pinned(account, channel) if pinned
             else client.read_channel(account, channel, threads_only=threads))
    signing.show(posts, lambda: _posts_table(f"#{channel} ({len(posts)})", posts,
                                             kit.namer(signing.dir)))


@app.command("thread")
@kit.with_reading
def thread(post_id: int = typer.Argument(..., help="The post id."), *,
           signing: kit.Signing) -> None:
    """A thread: its opening post, then its replies."""
    posts = _client(signing.rpc, signing.dir).thread(signing.signer(), post_id)
    if signing.json_out:
        kit.print_json(posts)
        return
    _posts_table(f"Thread {posts[0]['id']} in #{posts[0]['channel']}", posts,
                 kit.namer(signing.dir))
    for p in posts:
        if p["readable"]:
            kit.console.print(f"[bold]{p['id']}[/bold] {p['title']}\n{p['body']}\n")


@app.command("attach")
@kit.with_signing
def attach(channel: str = ChannelArg, file: Path = typer.Argument(..., help="The document."),
           post_id: int = typer.Option(0, "--post", help="Attach it to this post."),
           name: str | None = typer.Option(None, "--name", help="Its name (default: file's)."),
           media_type: str | None = typer.Option(None, "--type", help="Its media type."),
           on_chain: bool = typer.Option(False, "--on-chain",
                                         help="Keep it on chain (refused over the rule)."),
           on_node: bool = typer.Option(False, "--on-node",
                                        help="Anchor its hash; your node keeps the bytes."),
           *, signing: kit.Signing) -> None:
    """Attach a research paper or PoC spec: on chain up to forum.max_attachment_bytes,
    else anchored by its SHA-256 and kept by your node (encrypted in a task force's)."""
    if on_chain and on_node:
        raise ConfigError("give --on-chain or --on-node, not both")
    keep = "chain" if on_chain else "node" if on_node else "auto"
    client = _client(signing.rpc, signing.dir)
    _check_size(client, channel, file, keep)
    out = client.attach(signing.signer(), channel, file, name=name, media_type=media_type,
                        post=post_id, keep=keep)
    where = "on chain" if out["onChain"] else "anchored, kept by this node"
    signing.show(out, lambda: kit.console.print(
        f"document {out['document']}: {out['size']} bytes {where}, SHA-256 {out['sha256']} "
        f"(block {out['block']}, tx {out['txHash']})"))


def _check_size(client: Any, channel: str, file: Path, keep: str) -> None:
    """Refuse, before anything is sent, a FILE that is empty or over what it would be kept
    under, in the user's terms: the file's size against the limit; in a task force's
    channel the encrypted size counts (the file plus the seal's nonce and tag), so the
    message says how large a file may be. On chain the limit is the rule
    forum.max_attachment_bytes; anchored, the bytes one node keeps for a document."""
    from consortium.apps.forum.model import CONSORTIUM_CHANNEL, MAX_ATTACHMENT_RULE, MAX_BLOB_FILE
    from consortium.system.sealing import SEAL_OVERHEAD

    try:
        size = file.stat().st_size
    except OSError as exc:
        raise ConfigError(f"cannot read FILE {file}: {exc.strerror or exc}") from None
    if not file.is_file():
        raise ConfigError(f"FILE {file} is not a file")
    if size == 0:
        raise ConfigError(f"FILE {file} is empty: there is no document to attach")
    found = client.read.channel(channel) if channel != CONSORTIUM_CHANNEL else None
    overhead = SEAL_OVERHEAD if found is not None and found["private"] else 0
    stored = size + overhead
    chain_limit = int(client.read.max_attachment())
    on_chain = keep == "chain" or (keep == "auto" and stored <= chain_limit)
    limit, what = ((chain_limit, f"the forum's on-chain limit of {chain_limit} bytes (rule "
                                 f"{MAX_ATTACHMENT_RULE})") if on_chain else
                   (MAX_BLOB_FILE, f"the {MAX_BLOB_FILE} bytes a node keeps for one "
                                   "anchored document"))
    if stored <= limit:
        return
    sealed = (f"; encrypted for task force channel {channel!r} it is {stored} bytes, and the "
              f"encrypted size counts ({overhead} bytes more than the file), so a file of at "
              f"most {limit - overhead} bytes fits") if overhead else ""
    hint = ("; leave out --on-chain to anchor it by its SHA-256 (your node keeps the bytes)"
            if on_chain else "; split it, or share it outside the forum")
    raise ConfigError(f"FILE {file} is {size} bytes, over {what}{sealed}{hint}")


@app.command("documents")
@kit.with_reading
def documents(channel: str | None = typer.Argument(None, help="A channel (default: all)."),
              *, signing: kit.Signing) -> None:
    """Document records, with their names where your key opens them."""
    from consortium.apps.forum.sealing import SealError

    client, account = _client(signing.rpc, signing.dir), signing.signer()
    found = []
    for d in client.read.documents(channel=channel):
        try:
            found.append(client.document(account, d["id"]))
        except SealError:
            found.append(d)
    show = kit.namer(signing.dir)
    signing.show(found, lambda: kit.table(
        f"Documents ({len(found)})",
        ["id", "channel", "post", "author", "name", "bytes", "kept", "sha256"],
        [[d["id"], d["channel"], d["post"], show(d["author"]),
          d.get("meta", {}).get("name") or "(encrypted)", d["size"],
          "chain" if d["onChain"] else "author's node", d["sha256"]] for d in found]))


@app.command("fetch")
@kit.with_reading
def fetch(document_id: int = typer.Argument(..., help="The document id."),
          out: Path = typer.Option(..., "--out", help="Where to write it."),
          source: list[str] = typer.Option([], "--source",
                                           help="Another node's API URL to try (repeatable)."),
          *, signing: kit.Signing) -> None:
    """Download a document, check it against its SHA-256 on chain (refused if it differs),
    decrypt it (task-force channels) and write it."""
    data, doc = _client(signing.rpc, signing.dir).fetch(signing.signer(), document_id,
                                                        tuple(source))
    out.write_bytes(data)
    result = {"document": document_id, "file": str(out), "bytes": len(data),
              "sha256": doc["sha256"], "name": doc["meta"].get("name"), "verified": True}
    signing.show(result, lambda: kit.console.print(
        f"document {document_id} ({result['name']}): {len(data)} bytes written to {out}, "
        "SHA-256 verified"))


@app.command("search")
@kit.with_signing
def search(text: str = typer.Argument(..., help="Words that must all occur."),
           channel: str | None = typer.Option(None, "--channel", help="Only this channel."),
           rebuild: bool = typer.Option(False, "--rebuild",
                                        help="Rebuild the index from the chain first."),
           index: Path | None = typer.Option(
               None, "--index", help="The index file (default: DIR/forum-index/<account>)."),
           limit: int = typer.Option(20, "--limit"), *, signing: kit.Signing) -> None:
    """Full-text search over what you can read, in your local index (SQLite FTS5)."""
    from consortium.apps.forum.search import default_index_path

    account = signing.signer()
    path = index or default_index_path(kit.resolve_dir(signing.dir), account.address)
    hits = _client(signing.rpc, signing.dir).search(account, text, index=path, rebuild=rebuild,
                                                    channel=channel, limit=limit)
    show = kit.namer(signing.dir)
    signing.show(hits, lambda: kit.table(
        f"Search {text!r} ({len(hits)})", ["post", "channel", "author", "title", "match"],
        [[h["post"], h["channel"], show(h["author"]), h["title"] or None, h["snippet"]]
         for h in hits]))
