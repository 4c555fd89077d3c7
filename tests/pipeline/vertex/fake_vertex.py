"""A local stand-in for the Vertex AI REST API (PipelineService) and the bit of the Cloud Storage JSON
API the SDK touches on submit, on 127.0.0.1. It records every request and answers like the service:

- POST /v1/projects/P/locations/L/pipelineJobs?pipelineJobId=ID  (CreatePipelineJob) -> the job, PENDING
- GET  /v1/projects/P/locations/L/pipelineJobs/ID                (GetPipelineJob)
- GET  /storage/v1/b/BUCKET                                      (buckets.get: the bucket exists)
- POST /token                                                    (OAuth token refresh of ADC user credentials)
"""
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List

CREATE = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+)/pipelineJobs$")
GET = re.compile(r"^/v1/(projects/[^/]+/locations/[^/]+/pipelineJobs/[^/]+)$")
BUCKET = re.compile(r"^/storage/v1/b/([^/]+)$")
CREATE_TIME = "2026-12-01T09:00:00Z"
ACCESS_TOKEN = "local-fake-access-token"


class FakeVertex:
    def __init__(self):
        self.requests: List[Dict] = []
        self.jobs: Dict[str, Dict] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, code: int, body: Dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self, body: bytes) -> Dict:
                url = urllib.parse.urlsplit(self.path)
                request = {"method": self.command, "path": url.path,
                           "query": dict(urllib.parse.parse_qsl(url.query)),
                           "headers": {k.lower(): v for k, v in self.headers.items()}, "raw": body}
                try:
                    request["body"] = json.loads(body) if body else None
                except ValueError:
                    request["body"] = urllib.parse.parse_qs(body.decode())
                fake.requests.append(request)
                return request

            def do_POST(self):
                request = self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                create = CREATE.match(request["path"])
                if create:
                    name = f"{create.group(1)}/pipelineJobs/{request['query']['pipelineJobId']}"
                    job = dict(request["body"], name=name, state="PIPELINE_STATE_PENDING",
                               createTime=CREATE_TIME, updateTime=CREATE_TIME)
                    fake.jobs[name] = job
                    return self._answer(200, job)
                if request["path"] == "/token":
                    return self._answer(200, {"access_token": ACCESS_TOKEN, "expires_in": 3600,
                                              "token_type": "Bearer"})
                self._answer(404, {"error": {"code": 404, "message": f"no {request['path']}",
                                             "status": "NOT_FOUND"}})

            def do_GET(self):
                request = self._record(b"")
                get, bucket = GET.match(request["path"]), BUCKET.match(request["path"])
                if get and get.group(1) in fake.jobs:
                    return self._answer(200, fake.jobs[get.group(1)])
                if bucket:
                    return self._answer(200, {"kind": "storage#bucket", "name": bucket.group(1),
                                              "id": bucket.group(1), "location": "EUROPE-WEST4"})
                self._answer(404, {"error": {"code": 404, "message": f"no {request['path']}",
                                             "status": "NOT_FOUND"}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def of(self, method: str, pattern: re.Pattern) -> List[Dict]:
        return [r for r in self.requests if r["method"] == method and pattern.match(r["path"])]
