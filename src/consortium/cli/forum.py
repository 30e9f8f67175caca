"""`consortium forum …`: the consortium's channels, threads, announcements, minutes and
research documents.

Channels are `consortium` (every member) and one per task force (its members; posts and
documents encrypted — reads with `--from` open what that member's key can open). Accounts
are 0x addresses or member names of the local network in --dir.

    consortium forum channels
    consortium forum post CHANNEL "text" [--title …] [--reply-to ID] --from MEMBER
    consortium forum read CHANNEL [--threads] [--pinned] [--from MEMBER]
    consortium forum thread ID [--from MEMBER]
    consortium forum minutes CHANNEL "text" --proposal 4 [--proposal 5] --from MEMBER
    consortium forum pin ID / unpin ID --from OFFICER
    consortium forum attach CHANNEL FILE [--post ID] [--on-chain | --on-node] --from MEMBER
    consortium forum documents [CHANNEL] [--from MEMBER] ; fetch ID --out FILE [--from …]
    consortium forum search WORDS --from MEMBER [--channel …] [--rebuild] [--index FILE]
    consortium forum register-key --from MEMBER ; rotate-key CHANNEL --from MEMBER
    consortium forum rules ; propose-max-attachment BYTES --from COMMITTEE
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from consortium.cli.common import (
    DirOption,
    FromOption,
    JsonOption,
    PasswordFileOption,
    RpcOption,
    console,
    endpoint,
    print_json,
    resolve_dir,
    signer,
    table,
)
from consortium.cli.services import done, namer, proposed
from consortium.errors import ConfigError

app = typer.Typer(help="The consortium forum: channels, threads, announcements, minutes, "
                       "research documents, search.", no_args_is_help=True)

ReaderOption = typer.Option(
    None, "--from", help="Read as this member (its key opens its task forces' channels)."
)
ChannelArg = typer.Argument(..., help="'consortium' or a task force's name.")
PostArg = typer.Argument(..., help="The post id.")
BODY_WIDTH = 60


def _client(rpc: str | None, dir: Path) -> Any:
    from consortium.apps.forum.client import ForumClient

    return ForumClient(endpoint(rpc, dir))


def _reader(from_: str | None, dir: Path, password_file: Path | None) -> Any:
    return None if from_ is None else signer(from_, dir, password_file)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= BODY_WIDTH else text[:BODY_WIDTH - 1] + "…"


def _posts_table(title: str, posts: list[dict[str, Any]], dir: Path) -> None:
    show = namer(dir)
    rows = []
    for p in posts:
        body = _short(p["body"]) if p["readable"] else f"(encrypted: {p.get('why', '')})"
        rows.append([p["id"], p["kind"], p["parent"], show(p["author"]), p["title"] or None,
                     body, "yes" if p["pinned"] else None, p["replies"],
                     ", ".join(str(x) for x in p["proposals"]) or None])
    table(title, ["id", "kind", "thread", "author", "title", "body", "pinned", "replies",
                  "proposals"], rows)


def _show(found: Any, json_out: bool, render: Callable[[], None]) -> None:
    """Print `found` as JSON, or render it (a table, a line)."""
    if json_out:
        print_json(found)
    else:
        render()


def _show_posts(title: str, posts: list[dict[str, Any]], dir: Path, json_out: bool) -> None:
    _show(posts, json_out, lambda: _posts_table(title, posts, dir))


# --- channels and keys -------------------------------------------------------------------------


@app.command("channels")
def channels(dir: Path = DirOption, rpc: str | None = RpcOption,
             json_out: bool = JsonOption) -> None:
    """Every channel: the consortium's and one per task force."""
    found = _client(rpc, dir).channels()
    show = namer(dir)
    _show(found, json_out, lambda: table(
        f"Channels ({len(found)})",
        ["channel", "private", "key epoch", "members", "threads", "posts", "documents"],
        [[c["name"], "yes" if c["private"] else "no", c["epoch"] if c["private"] else None,
          ", ".join(str(show(m)) for m in c["members"]) or ("everyone" if not c["private"]
                                                             else None),
          c["threads"], c["posts"], c["documents"]] for c in found]))


@app.command("register-key")
def register_key(from_: str = FromOption, dir: Path = DirOption, rpc: str | None = RpcOption,
                 password_file: Path | None = PasswordFileOption,
                 json_out: bool = JsonOption) -> None:
    """Register your account's public key, so channel keys can be wrapped for you."""
    done(_client(rpc, dir).register_key(signer(from_, dir, password_file)), json_out,
         "registered key")


@app.command("rotate-key")
def rotate_key(channel: str = ChannelArg, from_: str = FromOption, dir: Path = DirOption,
               rpc: str | None = RpcOption, password_file: Path | None = PasswordFileOption,
               json_out: bool = JsonOption) -> None:
    """Publish a new channel key for the task force's current members (writes do this
    themselves when membership changed)."""
    done(_client(rpc, dir).rotate_key(signer(from_, dir, password_file), channel), json_out,
         "rotated key")


# --- posts -------------------------------------------------------------------------------------


@app.command("post")
def post(channel: str = ChannelArg, text: str = typer.Argument(..., help="The body."),
         title: str = typer.Option("", "--title", help="The thread's title."),
         reply_to: int | None = typer.Option(None, "--reply-to",
                                             help="Reply in this post's thread instead."),
         from_: str = FromOption, dir: Path = DirOption, rpc: str | None = RpcOption,
         password_file: Path | None = PasswordFileOption, json_out: bool = JsonOption) -> None:
    """Open a thread in a channel, or reply in one (encrypted in a task force's channel)."""
    client = _client(rpc, dir)
    account = signer(from_, dir, password_file)
    if reply_to is not None:
        found = client.read.post(reply_to)
        if found is None:
            raise ConfigError(f"no post {reply_to}")
        if found["channel"] != channel:
            raise ConfigError(f"post {reply_to} is in channel {found['channel']!r}")
        out = client.reply(account, reply_to, text)
    else:
        out = client.post(account, channel, text, title=title)
    done(out, json_out, "posted")


@app.command("minutes")
def minutes(channel: str = ChannelArg, text: str = typer.Argument(..., help="The minutes."),
            proposal: list[int] = typer.Option(..., "--proposal",
                                               help="A proposal they record (repeatable)."),
            title: str = typer.Option("Minutes", "--title"),
            from_: str = FromOption, dir: Path = DirOption, rpc: str | None = RpcOption,
            password_file: Path | None = PasswordFileOption,
            json_out: bool = JsonOption) -> None:
    """Post meeting minutes linked to the proposals whose decisions they record."""
    out = _client(rpc, dir).post_minutes(signer(from_, dir, password_file), channel, text,
                                         proposal, title=title)
    done(out, json_out, "minutes")


@app.command("read")
def read(channel: str = ChannelArg,
         threads: bool = typer.Option(False, "--threads", help="Only thread openers."),
         pinned: bool = typer.Option(False, "--pinned", help="Only pinned announcements."),
         from_: str | None = ReaderOption, dir: Path = DirOption, rpc: str | None = RpcOption,
         password_file: Path | None = PasswordFileOption, json_out: bool = JsonOption) -> None:
    """A channel's posts, oldest first, opened with your key where it can."""
    client = _client(rpc, dir)
    account = _reader(from_, dir, password_file)
    if pinned:
        posts = client.pinned(account, channel)
    else:
        posts = client.read_channel(account, channel, threads_only=threads)
    _show_posts(f"#{channel} ({len(posts)})", posts, dir, json_out)


@app.command("thread")
def thread(post_id: int = PostArg, from_: str | None = ReaderOption, dir: Path = DirOption,
           rpc: str | None = RpcOption, password_file: Path | None = PasswordFileOption,
           json_out: bool = JsonOption) -> None:
    """A thread: its opening post, then its replies."""
    posts = _client(rpc, dir).thread(_reader(from_, dir, password_file), post_id)
    if json_out:
        print_json(posts)
        return
    _posts_table(f"Thread {posts[0]['id']} in #{posts[0]['channel']}", posts, dir)
    for p in posts:
        if p["readable"]:
            console.print(f"[bold]{p['id']}[/bold] {p['title']}\n{p['body']}\n")


@app.command("pin")
def pin(post_id: int = PostArg, from_: str = FromOption, dir: Path = DirOption,
        rpc: str | None = RpcOption, password_file: Path | None = PasswordFileOption,
        json_out: bool = JsonOption) -> None:
    """Pin a post as an announcement (officers in office only)."""
    done(_client(rpc, dir).pin(signer(from_, dir, password_file), post_id), json_out, "pinned")


@app.command("unpin")
def unpin(post_id: int = PostArg, from_: str = FromOption, dir: Path = DirOption,
          rpc: str | None = RpcOption, password_file: Path | None = PasswordFileOption,
          json_out: bool = JsonOption) -> None:
    """Unpin an announcement (officers in office only)."""
    done(_client(rpc, dir).unpin(signer(from_, dir, password_file), post_id), json_out,
         "unpinned")


# --- documents ---------------------------------------------------------------------------------


@app.command("attach")
def attach(channel: str = ChannelArg, file: Path = typer.Argument(..., help="The document."),
           post_id: int = typer.Option(0, "--post", help="Attach it to this post."),
           name: str | None = typer.Option(None, "--name", help="Its name (default: file's)."),
           media_type: str | None = typer.Option(None, "--type", help="Its media type."),
           on_chain: bool = typer.Option(False, "--on-chain",
                                         help="Keep it on chain (refused over the rule)."),
           on_node: bool = typer.Option(False, "--on-node",
                                        help="Anchor its hash; your node keeps the bytes."),
           from_: str = FromOption, dir: Path = DirOption, rpc: str | None = RpcOption,
           password_file: Path | None = PasswordFileOption, json_out: bool = JsonOption) -> None:
    """Attach a research paper or PoC spec: on chain up to forum.max_attachment_bytes,
    else anchored by its SHA-256 and kept by your node (encrypted in a task force's)."""
    if on_chain and on_node:
        raise ConfigError("give --on-chain or --on-node, not both")
    keep = "chain" if on_chain else "node" if on_node else "auto"
    out = _client(rpc, dir).attach(signer(from_, dir, password_file), channel, file,
                                   name=name, media_type=media_type, post=post_id, keep=keep)
    where = "on chain" if out["onChain"] else "anchored, kept by this node"
    _show(out, json_out, lambda: console.print(
        f"document {out['document']}: {out['size']} bytes {where}, SHA-256 {out['sha256']} "
        f"(block {out['block']}, tx {out['txHash']})"))


@app.command("documents")
def documents(channel: str | None = typer.Argument(None, help="A channel (default: all)."),
              from_: str | None = ReaderOption, dir: Path = DirOption,
              rpc: str | None = RpcOption, password_file: Path | None = PasswordFileOption,
              json_out: bool = JsonOption) -> None:
    """Document records, with their names where your key opens them."""
    from consortium.apps.forum.sealing import SealError

    client = _client(rpc, dir)
    account = _reader(from_, dir, password_file)
    found = []
    for d in client.read.documents(channel=channel):
        try:
            found.append(client.document(account, d["id"]))
        except SealError:
            found.append(d)
    show = namer(dir)
    _show(found, json_out, lambda: table(
        f"Documents ({len(found)})",
        ["id", "channel", "post", "author", "name", "bytes", "kept", "sha256"],
        [[d["id"], d["channel"], d["post"], show(d["author"]),
          d.get("meta", {}).get("name") or "(encrypted)", d["size"],
          "chain" if d["onChain"] else "author's node", d["sha256"]] for d in found]))


@app.command("fetch")
def fetch(document_id: int = typer.Argument(..., help="The document id."),
          out: Path = typer.Option(..., "--out", help="Where to write it."),
          source: list[str] = typer.Option([], "--source",
                                           help="Another node's API URL to try (repeatable)."),
          from_: str | None = ReaderOption, dir: Path = DirOption, rpc: str | None = RpcOption,
          password_file: Path | None = PasswordFileOption, json_out: bool = JsonOption) -> None:
    """Download a document, check it against its SHA-256 on chain (refused if it differs),
    decrypt it (task-force channels) and write it."""
    data, doc = _client(rpc, dir).fetch(_reader(from_, dir, password_file), document_id,
                                        tuple(source))
    out.write_bytes(data)
    result = {"document": document_id, "file": str(out), "bytes": len(data),
              "sha256": doc["sha256"], "name": doc["meta"].get("name"), "verified": True}
    _show(result, json_out, lambda: console.print(
        f"document {document_id} ({result['name']}): {len(data)} bytes written to {out}, "
        "SHA-256 verified"))


# --- search ------------------------------------------------------------------------------------


@app.command("search")
def search(text: str = typer.Argument(..., help="Words that must all occur."),
           channel: str | None = typer.Option(None, "--channel", help="Only this channel."),
           rebuild: bool = typer.Option(False, "--rebuild",
                                        help="Rebuild the index from the chain first."),
           index: Path | None = typer.Option(
               None, "--index", help="The index file (default: DIR/forum-index/<account>)."),
           limit: int = typer.Option(20, "--limit"),
           from_: str = FromOption, dir: Path = DirOption, rpc: str | None = RpcOption,
           password_file: Path | None = PasswordFileOption, json_out: bool = JsonOption) -> None:
    """Full-text search over what you can read, in your local index (SQLite FTS5)."""
    from consortium.apps.forum.search import default_index_path

    account = signer(from_, dir, password_file)
    path = index or default_index_path(resolve_dir(dir), account.address)
    hits = _client(rpc, dir).search(account, text, index=path, rebuild=rebuild,
                                    channel=channel, limit=limit)
    show = namer(dir)
    _show(hits, json_out, lambda: table(
        f"Search {text!r} ({len(hits)})", ["post", "channel", "author", "title", "match"],
        [[h["post"], h["channel"], show(h["author"]), h["title"] or None, h["snippet"]]
         for h in hits]))


# --- the rule ----------------------------------------------------------------------------------


@app.command("rules")
def rules(dir: Path = DirOption, rpc: str | None = RpcOption,
          json_out: bool = JsonOption) -> None:
    """The forum's rules (changed by vote)."""
    found = _client(rpc, dir).read.rules()
    _show(found, json_out, lambda: table("Forum rules", ["rule", "value"],
                                         [[k, v] for k, v in found.items()]))


@app.command("propose-max-attachment")
def propose_max_attachment(
    value: int = typer.Argument(..., help="The new limit in bytes."),
    from_: str = FromOption, dir: Path = DirOption, rpc: str | None = RpcOption,
    password_file: Path | None = PasswordFileOption, json_out: bool = JsonOption,
) -> None:
    """Propose a new forum.max_attachment_bytes (an app-call proposal; members vote)."""
    proposed(_client(rpc, dir).propose_max_attachment(signer(from_, dir, password_file),
                                                      value), json_out)
