"""`python -m serving ...` as a user runs it, for the CLI tests: one-shot commands and blocking ones (serve, deploy)."""
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

from data.contract import MODEL_NAME
from tests.serving.server_process import REPO_ROOT

FIXTURE_CSV = os.path.join(REPO_ROOT, "tests", "fixtures", "spans", "span-1", "flights.csv")


def serving(*args, **kwargs):
    """`python -m serving ARGS` to completion (CompletedProcess, text)."""
    return subprocess.run([sys.executable, "-m", "serving", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300, **kwargs)


class Blocking:
    """A blocking `python -m serving ...` command (serve, deploy) until its REST port answers."""

    def __init__(self, args, rest_port, log_path):
        self.rest = f"127.0.0.1:{rest_port}"
        self.log_path = log_path
        with open(log_path, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "serving", *args], cwd=REPO_ROOT,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            assert self.process.poll() is None and time.monotonic() < deadline, open(log_path).read()[-3000:]
            try:
                urllib.request.urlopen(f"http://{self.rest}/v1/models/{MODEL_NAME}", timeout=2)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)

    def stderr(self):
        return open(self.log_path).read()

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


