"""Requests through the proxy for the delivery tests: which version answered each one (from the answer
itself: the contract model versions give different probabilities), and load in background threads."""
import http.client
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

from data import contract
from serving.tools.contract_model import example_row

ROWS = [example_row(i) for i in range(20)]


class Answers:
    """late_probability of each ROWS entry per version, to tell which version answered."""

    def __init__(self, library, versions=(1, 2, 3)):
        self.expected = {v: library.expected(v, ROWS) for v in versions}

    def version_of(self, row_index: int, probability: float):
        found = [v for v, p in self.expected.items() if abs(p[row_index] - probability) < 1e-5]
        return found[0] if len(found) == 1 else None


def post(listen: str, path: str, row_index: int, timeout: float = 30.0) -> dict:
    """One predict request on a new connection: {"status", "probability", "route", "error"}."""
    host, port = listen.rsplit(":", 1)
    body = json.dumps({"instances": [ROWS[row_index]]})
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        answer = connection.getresponse()
        text = answer.read().decode()
        result = {"status": answer.status, "route": answer.getheader("X-Model-Route"), "error": None,
                  "probability": None}
        if answer.status == 200:
            prediction = json.loads(text)["predictions"][0]
            result["probability"] = prediction[contract.PREDICTION_KEY] if isinstance(prediction, dict) else prediction
        else:
            result["error"] = text[:300]
        return result
    except OSError as exc:
        return {"status": None, "route": None, "error": repr(exc), "probability": None}
    finally:
        connection.close()


def write_labels(path: str, probability: list, seed: int = 0) -> str:
    """A labels file (natural key, label) for ROWS, each label drawn once as Bernoulli(probability[row])."""
    from serving.replay import write_labels as write
    rng = random.Random(seed)
    write(path, [(row, contract.natural_key(row), int(rng.random() < p)) for row, p in zip(ROWS, probability)])
    return path


def send_many(listen: str, path: str, count: int, threads: int = 8) -> list:
    """`count` requests (row i % len(ROWS)), answers in order, each with its "row"."""
    def one(i):
        return {**post(listen, path, i % len(ROWS)), "row": i % len(ROWS)}
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


class Load:
    """Requests in a loop from `threads` threads until stop(); every answer kept (with its "row")."""

    def __init__(self, listen: str, path: str, threads: int = 4):
        self.listen, self.path = listen, path
        self.answers, self._lock, self._stop = [], threading.Lock(), threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)]

    def _run(self, t):
        i = t
        while not self._stop.is_set():
            row = i % len(ROWS)
            answer = {**post(self.listen, self.path, row), "row": row}
            with self._lock:
                self.answers.append(answer)
            i += len(self._threads)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()
