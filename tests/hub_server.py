"""A small Hub-compatible server for tests, on loopback, for the real huggingface_hub client.

It implements the endpoints the client and transformers really call when creating a repo,
committing files and loading a model: whoami, repo create, preupload, commit (NDJSON), repo
info, tree, paths-info and resolve (with the ETag and X-Repo-Commit headers). Files are kept in
memory per commit; every upload is "regular" (inline base64), so no LFS or Xet storage is needed.
"""

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
import yaml
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}


@dataclass
class Repo:
    repo_type: str
    private: bool
    sdk: str | None = None  # spaces only
    variables: dict[str, dict] = field(default_factory=dict)  # spaces only: key -> {value, description}
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)  # (oid, files), oldest first
    messages: list[str] = field(default_factory=list)  # each commit's summary, oldest first

    def files_at(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        if revision == "main":
            return self.commits[-1] if self.commits else ("0" * 40, {})
        return next((commit for commit in self.commits if commit[0] == revision), None)


def repo_of_folder(folder: Path, private: bool = False) -> Repo:
    """A model repo whose one commit holds every file under `folder`, as an upload of it would."""
    files = {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}
    return Repo("model", private, commits=[(hashlib.sha1(str(folder).encode()).hexdigest(), files)])


class HubState:
    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens  # token -> user name
        self.orgs: dict[str, list[str]] = {}  # user name -> the organisations the user belongs to
        self.repos: dict[tuple[str, str], Repo] = {}  # (repo type, repo id) -> repo
        self.requests: list[str] = []  # "METHOD path", for tests that check what was called
        # (path, content) -> content stored: a test sets it to play a Hub that corrupts what it receives
        self.tamper = None

    def user(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        return self.tokens.get(header.removeprefix("Bearer ").strip())


def _error(status: int, code: str, message: str, commit: str | None = None) -> JSONResponse:
    headers = {"X-Error-Code": code, "X-Error-Message": message}
    if commit:
        headers["X-Repo-Commit"] = commit
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _model_index_errors(model_index) -> list[str]:
    if model_index is None:
        return ["metadata must be a mapping"]
    errors = []
    for entry in model_index:
        for result in entry.get("results", []):
            if not result.get("task", {}).get("type"):
                errors.append("model-index: every result needs task.type")
            dataset = result.get("dataset", {})
            if not (dataset.get("type") and dataset.get("name")):
                errors.append("model-index: every result needs dataset.type and dataset.name")
            for metric in result.get("metrics", []):
                if "type" not in metric or not isinstance(metric.get("value"), (int, float, str)):
                    errors.append("model-index: every metric needs a type and a value")
    return errors


def make_app(state: HubState) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def record(request: Request, call_next):
        state.requests.append(f"{request.method} {request.url.path}")
        return await call_next(request)

    def readable(request: Request, repo_type: str, repo_id: str) -> Repo | JSONResponse:
        repo = state.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and state.user(request) != repo_id.split("/")[0]):
            return _error(404 if repo is None else 401, "RepoNotFound", f"Repository {repo_id} not found")
        return repo

    def snapshot(request: Request, kind: str, repo_id: str, revision: str):
        """(commit oid, files) of a readable repo at a revision, or the Hub's error response."""
        repo = readable(request, REPO_TYPES[kind], repo_id)
        if isinstance(repo, JSONResponse):
            return repo
        return repo.files_at(revision) or _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")

    def writable(request: Request, repo_type: str, repo_id: str) -> Repo | JSONResponse:
        user = state.user(request)
        if user is None:
            return _error(401, "Unauthorized", "Invalid credentials in Authorization header")
        if repo_id.split("/")[0] != user:
            return _error(403, "Forbidden", f"You don't have the rights to write to {repo_id}")
        return state.repos.get((repo_type, repo_id)) or _error(404, "RepoNotFound", f"Repository {repo_id} not found")

    @app.get("/api/whoami-v2")
    async def whoami(request: Request):
        user = state.user(request)
        if user is None:
            return _error(401, "Unauthorized", "Invalid credentials in Authorization header")
        return {
            "type": "user",
            "name": user,
            "fullname": user,
            "orgs": [{"type": "org", "name": org} for org in state.orgs.get(user, [])],
            "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
        }

    @app.post("/api/repos/create")
    async def create_repo(request: Request):
        body = await request.json()
        user = state.user(request)
        if user is None:
            return _error(401, "Unauthorized", "Invalid credentials in Authorization header")
        namespace = body.get("organization") or user
        if namespace != user:
            return _error(403, "Forbidden", f"You don't have the rights to create a repo under {namespace}")
        repo_type, repo_id = body.get("type") or "model", f"{namespace}/{body['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{request.base_url}{prefix}{repo_id}"
        if (repo_type, repo_id) in state.repos:
            return JSONResponse({"error": "You already created this repo", "url": url}, status_code=409)
        private = bool(body.get("private")) or body.get("visibility") == "private"  # 1.x and 2.x clients
        state.repos[(repo_type, repo_id)] = Repo(repo_type, private, body.get("sdk"))
        return {"url": url, "name": repo_id, "id": repo_id}

    @app.post("/api/validate-yaml")
    async def validate_yaml(request: Request):
        """Checks a README's metadata like the Hub: YAML front matter, and a well-formed model-index."""
        content = (await request.json())["content"]
        match = re.match(r"^---\n(.*?)\n---\n", content, re.DOTALL)
        if not match:
            return {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]}
        try:
            metadata = yaml.safe_load(match.group(1))
        except yaml.YAMLError as err:
            return JSONResponse({"errors": [{"message": f"invalid YAML: {err}"}]}, status_code=400)
        errors = _model_index_errors(metadata.get("model-index", []) if isinstance(metadata, dict) else None)
        if errors:
            return JSONResponse({"errors": [{"message": e} for e in errors]}, status_code=400)
        return {"errors": [], "warnings": []}

    @app.post("/api/spaces/{namespace}/{name}/variables")
    async def add_variable(namespace: str, name: str, request: Request):
        repo = writable(request, "space", f"{namespace}/{name}")
        if isinstance(repo, JSONResponse):
            return repo
        body = await request.json()
        repo.variables[body["key"]] = {
            "value": body["value"],
            "description": body.get("description"),
            "updatedAt": "2026-01-01T00:00:00.000Z",
        }
        return repo.variables

    @app.post("/api/{kind}/{namespace}/{name}/preupload/{revision}")
    async def preupload(kind: str, namespace: str, name: str, revision: str, request: Request):
        repo = writable(request, REPO_TYPES[kind], f"{namespace}/{name}")
        if isinstance(repo, JSONResponse):
            return repo
        files = (await request.json())["files"]
        return {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]}

    @app.post("/api/{kind}/{namespace}/{name}/commit/{revision}")
    async def commit(kind: str, namespace: str, name: str, revision: str, request: Request):
        repo_id = f"{namespace}/{name}"
        repo = writable(request, REPO_TYPES[kind], repo_id)
        if isinstance(repo, JSONResponse):
            return repo
        files, message = dict(repo.files_at("main")[1]), ""
        for line in (await request.body()).decode().splitlines():
            entry = json.loads(line)
            if entry["key"] == "header":
                message = entry["value"].get("summary", "")
            elif entry["key"] == "file":
                path, content = entry["value"]["path"], base64.b64decode(entry["value"]["content"])
                files[path] = state.tamper(path, content) if state.tamper else content
            elif entry["key"] in ("deletedFile", "deletedFolder"):
                files = {p: c for p, c in files.items() if not p.startswith(entry["value"]["path"])}
            elif entry["key"] == "lfsFile":
                return _error(400, "BadRequest", "this test server accepts regular uploads only")
        oid = hashlib.sha1(f"{repo_id}{len(repo.commits)}{time.time()}".encode()).hexdigest()
        repo.commits.append((oid, files))
        repo.messages.append(message)
        prefix = "" if kind == "models" else f"{kind}/"
        return {
            "commitUrl": f"{request.base_url}{prefix}{repo_id}/commit/{oid}",
            "commitOid": oid,
            "commitMessage": "",
            "success": True,
            "pullRequestUrl": None,
        }

    def info(kind: str, repo_id: str, revision: str, request: Request):
        found = snapshot(request, kind, repo_id, revision)
        if isinstance(found, JSONResponse):
            return found
        oid, files = found
        repo = state.repos[(REPO_TYPES[kind], repo_id)]
        return {
            "id": repo_id,
            "modelId": repo_id,
            "sha": oid,
            "private": repo.private,
            "disabled": False,
            "gated": False,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "lastModified": "2026-01-01T00:00:00.000Z",
            "siblings": [{"rfilename": path} for path in sorted(files)],
            "sdk": repo.sdk,
        }

    @app.get("/api/{kind}/{namespace}/{name}")
    async def repo_info(kind: str, namespace: str, name: str, request: Request):
        return info(kind, f"{namespace}/{name}", "main", request)

    @app.get("/api/{kind}/{namespace}/{name}/revision/{revision}")
    async def repo_info_at(kind: str, namespace: str, name: str, revision: str, request: Request):
        return info(kind, f"{namespace}/{name}", revision, request)

    def entries(files: dict[str, bytes], paths) -> list[dict]:
        return [
            {"type": "file", "path": p, "size": len(files[p]), "oid": hashlib.sha1(files[p]).hexdigest()}
            for p in paths
            if p in files
        ]

    @app.get("/api/{kind}/{namespace}/{name}/tree/{revision}")
    @app.get("/api/{kind}/{namespace}/{name}/tree/{revision}/{path:path}")
    async def tree(kind: str, namespace: str, name: str, revision: str, request: Request, path: str = ""):
        found = snapshot(request, kind, f"{namespace}/{name}", revision)
        if isinstance(found, JSONResponse):
            return found
        files = found[1]
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        return entries(files, sorted(p for p in files if p.startswith(prefix)))

    @app.post("/api/{kind}/{namespace}/{name}/paths-info/{revision}")
    async def paths_info(kind: str, namespace: str, name: str, revision: str, request: Request):
        found = snapshot(request, kind, f"{namespace}/{name}", revision)
        if isinstance(found, JSONResponse):
            return found
        form = await request.form()
        paths = form.getlist("paths") if form else (await request.json()).get("paths", [])
        return entries(found[1], paths)

    async def resolve(kind: str, repo_id: str, revision: str, path: str, request: Request):
        found = snapshot(request, kind, repo_id, revision)
        if isinstance(found, JSONResponse):
            return found
        oid, files = found
        if path not in files:
            return _error(404, "EntryNotFound", f"{path} does not exist at {revision}", commit=oid)
        content = files[path]
        headers = {
            "ETag": f'"{hashlib.sha1(content).hexdigest()}"',
            "X-Repo-Commit": oid,
            "Content-Length": str(len(content)),
            "Accept-Ranges": "bytes",
        }
        body = b"" if request.method == "HEAD" else content
        return Response(body, headers=headers, media_type="application/octet-stream")

    @app.api_route("/{namespace}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    async def resolve_model(namespace: str, name: str, revision: str, path: str, request: Request):
        return await resolve("models", f"{namespace}/{name}", revision, path, request)

    @app.api_route("/{kind}/{namespace}/{name}/resolve/{revision}/{path:path}", methods=["GET", "HEAD"])
    async def resolve_other(kind: str, namespace: str, name: str, revision: str, path: str, request: Request):
        if kind not in ("datasets", "spaces"):
            return _error(404, "RepoNotFound", "not found")
        return await resolve(kind, f"{namespace}/{name}", revision, path, request)

    return app


class HubServer:
    """Runs the app with uvicorn in a background thread on a free loopback port."""

    def __init__(self, tokens: dict[str, str]):
        self.state = HubState(tokens)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(make_app(self.state), host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test Hub server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


# Running the real huggingface_hub client against the server, in a fresh process, as a user would.
ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_test_alice_0123456789abcdef"
LOAD_BACK = """
import json, sys
from transformers import pipeline
classify = pipeline("text-classification", model=sys.argv[1])
print(json.dumps({"labels": list(classify.model.config.id2label.values()),
                  "answers": classify(sys.argv[2:], top_k=None)}))
"""


def hub_env(tmp_path: Path, endpoint: str, token: str | None = TOKEN) -> dict:
    """The environment of a user pointed at `endpoint`, with a fresh cache, logged in with `token`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        HF_ENDPOINT=endpoint, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_OFFLINE="0", HF_HUB_DISABLE_TELEMETRY="1"
    )
    if token:
        env["HF_TOKEN"] = token
    return env


def run(args: list, env: dict) -> subprocess.CompletedProcess:
    """`python *args` in the repository root with `env`."""
    return subprocess.run(
        [sys.executable, *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
